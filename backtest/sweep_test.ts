import assert from "node:assert/strict";
import { combinations, parseGrid, rankValue } from "./sweep.ts";
import { runSweep } from "./sweep_pool.ts";
import { columnCollector } from "./sweep_series.ts";
import { createBacktest, type ExitRules } from "./engine.ts";
import { parseLadder } from "../trading/ladder.ts";
import { generateCandles } from "./sample.ts";
import { paramsFromConfig } from "../strategy/mod.ts";
import { loadConfig } from "../core/config.ts";
import type { Candle } from "../exchange/port.ts";

const base = paramsFromConfig(loadConfig({}));
const settings = { initialQuote: 10_000, feeRate: 0.001, stepSize: 0.00001 };

function single(candles: Candle[], params: typeof base, exits?: ExitRules) {
  const bt = createBacktest({ params, ...settings, exits });
  for (const c of candles) bt.feed(c);
  const { summary, trades } = bt.finish();
  let gain = 0, loss = 0;
  for (const t of trades) t.pnlQuote > 0 ? gain += t.pnlQuote : loss -= t.pnlQuote;
  return {
    returnPct: summary.returnPct,
    maxDrawdownPct: summary.maxDrawdownPct,
    trades: summary.trades,
    winRatePct: summary.winRatePct,
    finalQuote: summary.finalQuote,
    profitFactor: loss > 0 ? Math.round(gain / loss * 1000) / 1000 : null,
  };
}

Deno.test({
  name: "a sweep's results equal single backtests run one by one, in and out of sample",
  sanitizeResources: false,
  fn: async () => {
    const candles: Candle[] = [];
    const cols = columnCollector();
    generateCandles({ count: 20_000, seed: 3 }, (c) => {
      candles.push(c);
      cols.add(c);
    });
    const columns = cols.done();
    const grid = parseGrid("ema_fast=5..9:2,ema_slow=20..30:10,stop_pct=1..2:0.5,rsi_period=14|7");
    const combos = combinations(base, grid);
    assert.equal(combos.length, 3 * 2 * 3 * 2);
    const progress: number[] = [];
    const whole = await runSweep(columns, combos, {
      settings,
      cut: columns.n,
      workers: 2,
      onProgress: (d) => progress.push(d),
    });
    assert.equal(progress.at(-1), combos.length);
    let traded = 0;
    for (const r of whole) {
      const { sharpe: _s, ...got } = r.inSample;
      assert.deepEqual(got, single(candles, r.params), JSON.stringify(r.params));
      assert.equal(r.outOfSample, undefined);
      if (r.inSample.trades > 0) traded++;
    }
    assert.ok(traded > combos.length / 2, "the grid trades");
    // Different parameters give different results (the sweep really varies them).
    assert.ok(new Set(whole.map((r) => r.inSample.finalQuote)).size > combos.length / 2);

    const cut = 14_000;
    const split = await runSweep(columns, combos, { settings, cut, workers: 2 });
    for (const r of split) {
      const { sharpe: _s, ...got } = r.inSample;
      assert.deepEqual(got, single(candles.slice(0, cut), r.params));
      assert.ok(r.outOfSample, "out-of-sample run");
    }
  },
});

Deno.test({
  name: "a sweep over the trail, with a ladder, equals single backtests with those exits",
  sanitizeResources: false,
  fn: async () => {
    const candles: Candle[] = [];
    const cols = columnCollector();
    generateCandles({ count: 20_000, seed: 5 }, (c) => {
      candles.push(c);
      cols.add(c);
    });
    const exits = { ladder: parseLadder("1:50,2:50"), trailStepPct: 0.2 };
    const combos = combinations(base, parseGrid("trail_pct=0.5|1.5,trail_activation_pct=0|1"));
    const results = await runSweep(cols.done(), combos, {
      settings: { ...settings, exits },
      cut: candles.length,
      workers: 2,
    });
    const plain = single(candles, base, exits);
    for (const r of results) {
      const { sharpe: _s, ...got } = r.inSample;
      const { trailPct, trailActivationPct } = r.params;
      assert.deepEqual(got, single(candles, base, { ...exits, trailPct, trailActivationPct }));
    }
    assert.ok(
      results.some((r) => r.inSample.finalQuote !== plain.finalQuote),
      "the trail changes the outcome",
    );
    assert.equal(new Set(results.map((r) => r.inSample.finalQuote)).size, 4);
  },
});

Deno.test("grids: ranges, lists and the errors a person makes", () => {
  assert.deepEqual(parseGrid("stop_pct=1..3:0.5"), [["stop_pct", [1, 1.5, 2, 2.5, 3]]]);
  assert.deepEqual(parseGrid("ema_fast=8..16:2")[0][1], [8, 10, 12, 14, 16]);
  assert.deepEqual(parseGrid("confidence_min=0.1..0.3:0.1")[0][1], [0.1, 0.2, 0.3]);
  assert.equal(combinations(base, parseGrid("ema_fast=8..16:2,ema_slow=20..40:5")).length, 25);
  assert.throws(() => parseGrid("ema_fats=1..2"), /expected name=from..to:step/);
  assert.throws(() => parseGrid("ema_fast=10..5"), /from ≤ to/);
  assert.throws(() => parseGrid("ema_fast=1.5|2"), /whole numbers/);
  assert.throws(() => parseGrid("ema_fast=1..2,ema_fast=3"), /twice/);
  assert.throws(() => parseGrid("ema_fast=1..100000"), /combinations; at most/);
  assert.throws(() => parseGrid("trail_pct=0..2"), /above 0 and below 100/);
  assert.throws(() => parseGrid("trail_activation_pct=-1|1"), /from 0 up/);
  assert.deepEqual(combinations(base, parseGrid("trail_pct=1|2")).map((p) => p.trailPct), [1, 2]);
  const m = { returnPct: 1, sharpe: 2, profitFactor: null, maxDrawdownPct: 5, trades: 0 };
  assert.equal(rankValue({ ...m, winRatePct: 0, finalQuote: 1 }, "max_dd"), -5);
});
