/**
 * What a sweep shares between its combinations: the candles as columns in SharedArrayBuffers
 * (parsed once, read by every worker without a copy) and the indicator series, computed once
 * per distinct period with the same `trading-signals` code as live trading. A combination then
 * runs the ordinary backtest engine with a runner that reads those series instead of updating
 * its own indicators, so its result equals a single backtest's.
 */
import { EMA, RSI } from "trading-signals";
import type { Candle } from "../exchange/mod.ts";
import {
  evaluate,
  type IndicatorSnapshot,
  type RuleOutcome,
  type StrategyParams,
} from "../strategy/mod.ts";

/** ts, open, high, low, close, volume: one shared Float64Array each. */
export interface CandleColumns {
  n: number;
  ts: Float64Array;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
}

const shared = (n: number) => new Float64Array(new SharedArrayBuffer(Math.max(1, n) * 8));

/** Collects streamed candles, then moves them into shared columns. */
export function columnCollector() {
  const rows: number[][] = [[], [], [], [], [], []];
  return {
    add(c: Candle) {
      rows[0].push(c.ts);
      rows[1].push(c.open);
      rows[2].push(c.high);
      rows[3].push(c.low);
      rows[4].push(c.close);
      rows[5].push(c.volume);
    },
    done(): CandleColumns {
      const n = rows[0].length;
      const [ts, open, high, low, close, volume] = rows.map((r) => {
        const a = shared(n);
        a.set(r);
        return a;
      });
      return { n, ts, open, high, low, close, volume };
    },
  };
}

/** The candle at index i, as the engine takes it. */
export function candleAt(c: CandleColumns, i: number): Candle {
  return {
    ts: c.ts[i],
    open: c.open[i],
    high: c.high[i],
    low: c.low[i],
    close: c.close[i],
    volume: c.volume[i],
  };
}

/** Indicator series by kind and period: "ema:12", "rsi:14"; NaN while the library says null. */
export type SeriesMap = Record<string, Float64Array>;

export function computeSeriesMap(
  closes: Float64Array,
  n: number,
  emaPeriods: Iterable<number>,
  rsiPeriods: Iterable<number>,
): SeriesMap {
  const out: SeriesMap = {};
  for (const p of new Set(emaPeriods)) {
    const ema = new EMA(p);
    const s = shared(n);
    for (let i = 0; i < n; i++) s[i] = ema.add(closes[i]) ?? NaN;
    out[`ema:${p}`] = s;
  }
  for (const p of new Set(rsiPeriods)) {
    const rsi = new RSI(p);
    const s = shared(n);
    for (let i = 0; i < n; i++) s[i] = rsi.add(closes[i]) ?? NaN;
    out[`rsi:${p}`] = s;
  }
  return out;
}

/**
 * A strategy runner over precomputed series, starting at candle `from`: the same snapshots as
 * `createIndicators` (null until max(emaFast, emaSlow) closes and a first RSI value), fed to
 * the same rule. Indicators count from the start of the series (no look-ahead: a value at i
 * uses closes up to i), so an out-of-sample part starts with warm indicators.
 */
export function seriesRunner(series: SeriesMap, params: StrategyParams, from = 0) {
  const fast = series[`ema:${params.emaFast}`];
  const slow = series[`ema:${params.emaSlow}`];
  const rsi = series[`rsi:${params.rsiPeriod}`];
  if (!fast || !slow || !rsi) throw new Error("Indicator series missing for a combination");
  const warmup = Math.max(params.emaFast, params.emaSlow);
  let i = from;
  let prev: IndicatorSnapshot | null = null;
  return {
    onCandle(candle: { ts: number; close: number }): RuleOutcome {
      const f = fast[i], s = slow[i], r = rsi[i];
      i++;
      const cur = i < warmup || r !== r || f !== f || s !== s
        ? null
        : { emaFast: f, emaSlow: s, rsi: r };
      const outcome = evaluate(prev, cur, candle, params);
      prev = cur;
      return outcome;
    },
  };
}
