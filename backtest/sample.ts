/**
 * Deterministic synthetic candles: a geometric random walk whose drift changes regime now and
 * then, so that EMA crosses and RSI extremes both occur. The same seed always gives the same
 * candles (a small seeded PRNG, no Math.random).
 */
import type { Candle } from "../exchange/mod.ts";

/** mulberry32: a tiny 32-bit PRNG, good enough for test data and reproducible everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SampleOptions {
  count: number;
  seed?: number;
  startTs?: number;
  stepMs?: number;
  startPrice?: number;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Calls `emit` for each candle so a million of them never need an array. */
export function generateCandles(options: SampleOptions, emit: (c: Candle) => void): void {
  const rand = prng(options.seed ?? 42);
  const step = options.stepMs ?? 60_000;
  let ts = options.startTs ?? Date.UTC(2024, 0, 1);
  let price = options.startPrice ?? 42_000;
  let drift = 0;
  const vol = 0.0008;
  for (let i = 0; i < options.count; i++) {
    if (rand() < 0.004) drift = (rand() - 0.5) * 0.0006;
    const r = drift + (rand() + rand() + rand() - 1.5) * vol;
    const open = round2(price);
    const close = round2(Math.max(1, price * Math.exp(r)));
    const high = round2(Math.max(open, close) * (1 + rand() * vol));
    const low = round2(Math.min(open, close) * (1 - rand() * vol));
    const volume = Math.round((0.5 + rand() * 20) * 1e5) / 1e5;
    emit({ ts, open, high, low, close, volume });
    price = close;
    ts += step;
  }
}

/** One CSV row; `ts` as ISO-8601 (readable) or epoch milliseconds (as exchanges export). */
export function candleCsvLine(c: Candle, ts: "iso" | "ms" = "iso"): string {
  const t = ts === "iso" ? new Date(c.ts).toISOString() : String(c.ts);
  return `${t},${c.open},${c.high},${c.low},${c.close},${c.volume}`;
}
