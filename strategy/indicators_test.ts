import assert from "node:assert/strict";
import { computeSeries, createIndicators, settleCandles } from "./indicators.ts";
import { prng } from "../backtest/sample.ts";

const close = (a: number, b: number, eps = 1e-9) =>
  assert.ok(Math.abs(a - b) < eps, `expected ${b}, got ${a}`);

Deno.test("EMA(3) seeded with the first close matches hand-computed values", () => {
  // k = 2 / (3 + 1) = 0.5: 1 → 1.5 → 2.25 → 3.125 → 4.0625; stable from the third close.
  const ind = createIndicators({ emaFast: 2, emaSlow: 3, rsiPeriod: 2 });
  const out = [1, 2, 3, 4, 5].map((c) => ind.update(c));
  assert.equal(out[0], null);
  assert.equal(out[1], null);
  close(out[2]!.emaSlow, 2.25);
  close(out[3]!.emaSlow, 3.125);
  close(out[4]!.emaSlow, 4.0625);
  // EMA(2), k = 2/3: 1 → 5/3 → 23/9 → 95/27 → 365/81.
  close(out[4]!.emaFast, 365 / 81);
});

Deno.test("RSI(3) uses Wilder smoothing seeded with the simple average", () => {
  // Changes +1 +1 −1 +1 +1 +1. Seed: gains 2/3, losses 1/3 → RSI 66.667; then
  // gains 7/9, losses 2/9 → 77.778; then 23/27, 4/27 → 85.185.
  const ind = createIndicators({ emaFast: 2, emaSlow: 3, rsiPeriod: 3 });
  const out = [1, 2, 3, 2, 3, 4, 5].map((c) => ind.update(c));
  assert.equal(out[2], null);
  close(out[3]!.rsi, 100 - 100 / 3);
  close(out[4]!.rsi, 100 - 100 / 4.5);
  close(out[5]!.rsi, 100 - 100 / 6.75);
});

Deno.test("RSI is 100 when there has been no loss", () => {
  const ind = createIndicators({ emaFast: 2, emaSlow: 3, rsiPeriod: 3 });
  const out = [1, 2, 3, 4, 5].map((c) => ind.update(c));
  assert.equal(out[4]!.rsi, 100);
});

/** Textbook formulas over the whole series, written independently of the library. */
function reference(closes: number[], fastN: number, slowN: number, rsiN: number) {
  const ema = (n: number) => {
    const k = 2 / (n + 1);
    let e = closes[0];
    return closes.map((c, i) => (e = i === 0 ? c : c * k + e * (1 - k)));
  };
  const fast = ema(fastN), slow = ema(slowN);
  const rsi: (number | null)[] = closes.map(() => null);
  let g = 0, l = 0;
  for (let i = 1; i < closes.length; i++) {
    const d = closes[i] - closes[i - 1];
    const up = Math.max(d, 0), down = Math.max(-d, 0);
    if (i <= rsiN) {
      g += up / rsiN;
      l += down / rsiN;
    } else {
      g += (up - g) / rsiN;
      l += (down - l) / rsiN;
    }
    if (i >= rsiN) rsi[i] = l === 0 ? 100 : 100 - 100 / (1 + g / l);
  }
  return { fast, slow, rsi };
}

Deno.test("incremental updates equal a full recompute at every step", () => {
  const rand = prng(7);
  const closes: number[] = [];
  let p = 100;
  for (let i = 0; i < 400; i++) closes.push(p *= Math.exp((rand() - 0.5) * 0.02));
  const params = { emaFast: 5, emaSlow: 13, rsiPeriod: 7 };
  const live = createIndicators(params);
  const ref = reference(closes, 5, 13, 7);
  for (let i = 0; i < closes.length; i++) {
    const incremental = live.update(closes[i]);
    // Full recompute: a fresh state over the whole prefix, as a restart rebuild does.
    const recomputed = computeSeries(params, closes.slice(0, i + 1)).at(-1)!;
    assert.deepEqual(incremental, recomputed, `step ${i}`);
    if (incremental) {
      close(incremental.emaFast, ref.fast[i], 1e-8);
      close(incremental.emaSlow, ref.slow[i], 1e-8);
      close(incremental.rsi, ref.rsi[i]!, 1e-8);
    } else {
      assert.ok(i < 13, `warm-up ended late at ${i}`);
    }
  }
});

Deno.test("after settleCandles closes two runs started apart agree, and not long before", () => {
  const p = { emaFast: 20, emaSlow: 100, rsiPeriod: 50 };
  const settle = settleCandles(p);
  assert.equal(settle, Math.max(7 * 101, 15 * 50 + 1));
  const random = prng(7);
  const closes: number[] = [100];
  for (let i = 1; i < 5_000; i++) closes.push(closes[i - 1] * (1 + (random() - 0.5) * 0.01));
  const early = createIndicators(p);
  for (let i = 0; i < 2_000; i++) early.update(closes[i]);
  const late = createIndicators(p);
  const gap = (a: { emaSlow: number; rsi: number }, b: { emaSlow: number; rsi: number }) =>
    Math.max(Math.abs(a.emaSlow / b.emaSlow - 1), Math.abs(a.rsi - b.rsi) / 100);
  let atQuarter = 0, atSettle = 0;
  for (let k = 1; k <= settle; k++) {
    const a = early.update(closes[2_000 + k - 1])!;
    const b = late.update(closes[2_000 + k - 1]);
    if (k === Math.round(settle / 4)) atQuarter = gap(a, b!);
    if (k === settle) atSettle = gap(a, b!);
  }
  assert.ok(atQuarter > 1e-4, `a quarter of the way they still differ: ${atQuarter}`);
  assert.ok(atSettle < 1e-6, `settled: ${atSettle}`);
});
