/**
 * Streaming indicator state for one symbol: EMA fast and slow and RSI from `trading-signals`,
 * updated once per closed candle (never a recompute of the window). The same state drives the
 * live agent and the backtest, so both see the same numbers.
 */
import { EMA, RSI } from "trading-signals";

export interface IndicatorParams {
  emaFast: number;
  emaSlow: number;
  rsiPeriod: number;
}

/** Indicator values after one closed candle, once every indicator has enough data. */
export interface IndicatorSnapshot {
  emaFast: number;
  emaSlow: number;
  rsi: number;
}

export interface Indicators {
  /** Feeds one close; returns the values, or null while the indicators are still warming up. */
  update(close: number): IndicatorSnapshot | null;
  /** Closes fed so far. */
  readonly count: number;
}

export function createIndicators(params: IndicatorParams): Indicators {
  const fast = new EMA(params.emaFast);
  const slow = new EMA(params.emaSlow);
  const rsi = new RSI(params.rsiPeriod);
  // EMA reports a value from the first close (seeded with it) but is only meaningful after
  // `interval` closes, like the library's own isStable; counting here avoids its try/catch.
  const warmup = Math.max(params.emaFast, params.emaSlow);
  let count = 0;
  return {
    update(close) {
      count++;
      const f = fast.add(close);
      const s = slow.add(close);
      const r = rsi.add(close);
      if (count < warmup || r === null || f === null || s === null) return null;
      return { emaFast: f, emaSlow: s, rsi: r };
    },
    get count() {
      return count;
    },
  };
}

/**
 * Closes after which the streaming state no longer depends on where it started: the weight
 * left to the start is below e^-14 (1e-6). An EMA keeps (1 − 2/(n+1))^k of its seed after k
 * closes, so 7 × (n+1) suffice; Wilder's RSI keeps (1 − 1/n)^k of its seed average (taken
 * after n + 1 closes), so 15 × n + 1. Two runs started at different candles (a restart, the
 * backtest) agree from then on.
 */
export function settleCandles(params: IndicatorParams): number {
  const emaMax = Math.max(params.emaFast, params.emaSlow);
  return Math.max(7 * (emaMax + 1), 15 * params.rsiPeriod + 1);
}

/** Every snapshot of a series, computed from scratch (tests compare it with the streaming path). */
export function computeSeries(
  params: IndicatorParams,
  closes: readonly number[],
): (IndicatorSnapshot | null)[] {
  const ind = createIndicators(params);
  return closes.map((c) => ind.update(c));
}
