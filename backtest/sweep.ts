/**
 * Parameter sweeps: every combination of a grid (`ema_fast=8..16:2,stop_pct=1..3:0.5`) over the
 * same candles, in worker threads on all cores. The candles and the indicator series are
 * computed once and shared (sweep_series.ts); each combination is an ordinary backtest, so its
 * result equals `backtest` run alone with those parameters. With a split, every combination is
 * also run on the rest of the candles (out-of-sample), from fresh cash and no position.
 */
import { limits } from "../core/limits.ts";
import { UsageError } from "../core/errors.ts";
import type { StrategyParams } from "../strategy/mod.ts";
import { createBacktest } from "./engine.ts";
import {
  candleAt,
  type CandleColumns,
  computeSeriesMap,
  type SeriesMap,
  seriesRunner,
} from "./sweep_series.ts";

/** Sweepable parameters: spec name → StrategyParams field, and whether it is a whole number. */
const PARAMS: Record<string, [keyof StrategyParams, boolean]> = {
  ema_fast: ["emaFast", true],
  ema_slow: ["emaSlow", true],
  rsi_period: ["rsiPeriod", true],
  rsi_overbought: ["rsiOverbought", false],
  rsi_oversold: ["rsiOversold", false],
  stop_pct: ["stopPct", false],
  take_profit_pct: ["takeProfitPct", false],
  confidence_min: ["confidenceMin", false],
  risk_pct: ["riskPct", false],
};

export type Grid = [name: string, values: number[]][];

/** `name=from..to:step` (step 1 when omitted), `name=v1|v2|v3` or `name=v`, comma-separated. */
export function parseGrid(spec: string): Grid {
  const grid: Grid = [];
  for (const part of spec.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z_]+)=(.+)$/.exec(part);
    if (!m || !PARAMS[m[1]]) {
      throw new UsageError(
        `--sweep "${part}": expected name=from..to:step with a name of ${
          Object.keys(PARAMS).join(", ")
        }`,
      );
    }
    const [, name, range] = m;
    if (grid.some(([n]) => n === name)) throw new UsageError(`--sweep names ${name} twice`);
    const r = /^(-?[\d.]+)\.\.(-?[\d.]+)(?::([\d.]+))?$/.exec(range);
    let values: number[];
    if (r) {
      const [from, to, step] = [Number(r[1]), Number(r[2]), Number(r[3] ?? 1)];
      if (![from, to, step].every(Number.isFinite) || step <= 0 || to < from) {
        throw new UsageError(`--sweep ${name}=${range}: need from ≤ to and a step > 0`);
      }
      values = [];
      // Values from an integer count, rounded to the step's decimals: no drift from adding.
      const decimals = Math.max(...[r[1], r[3] ?? "1"].map((x) => x.split(".")[1]?.length ?? 0));
      for (let k = 0; from + k * step <= to + step * 1e-9; k++) {
        values.push(Number((from + k * step).toFixed(decimals)));
        if (values.length > limits.sweepCombinationsMax) break;
      }
    } else {
      values = range.split("|").map(Number);
      if (!values.every(Number.isFinite)) {
        throw new UsageError(`--sweep ${name}=${range}: not a range or a list of numbers`);
      }
    }
    if (PARAMS[name][1] && !values.every((v) => Number.isInteger(v) && v >= 1)) {
      throw new UsageError(`--sweep ${name} takes whole numbers ≥ 1, got ${values.join(", ")}`);
    }
    grid.push([name, values]);
  }
  if (grid.length === 0) throw new UsageError("--sweep needs at least one name=from..to:step");
  const count = grid.reduce((n, [, v]) => n * v.length, 1);
  if (count > limits.sweepCombinationsMax) {
    throw new UsageError(
      `--sweep has ${count} combinations; at most ${limits.sweepCombinationsMax} are run`,
    );
  }
  return grid;
}

/** Every combination of the grid over the base parameters, in a stable order. */
export function combinations(base: StrategyParams, grid: Grid): StrategyParams[] {
  let out: StrategyParams[] = [{ ...base }];
  for (const [name, values] of grid) {
    const key = PARAMS[name][0];
    out = out.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  }
  return out;
}

/** The grid's values of one combination, by spec name (for printing). */
export function gridValues(p: StrategyParams, grid: Grid): Record<string, number> {
  return Object.fromEntries(grid.map(([name]) => [name, p[PARAMS[name][0]] as number]));
}

export interface SweepMetrics {
  returnPct: number;
  /** Of per-candle equity returns, annualised from the median candle spacing. */
  sharpe: number;
  /** Gross profit over gross loss of the trades; null without a losing trade. */
  profitFactor: number | null;
  maxDrawdownPct: number;
  trades: number;
  winRatePct: number;
  finalQuote: number;
}

export interface RunSettings {
  initialQuote: number;
  feeRate: number;
  stepSize?: number;
}

/** One combination over candles [from, to): the engine with a runner over shared series. */
export function runCombination(
  c: CandleColumns,
  series: SeriesMap,
  params: StrategyParams,
  s: RunSettings,
  from: number,
  to: number,
): SweepMetrics {
  let prev = s.initialQuote, n = 0, mean = 0, m2 = 0;
  const bt = createBacktest({
    params,
    initialQuote: s.initialQuote,
    feeRate: s.feeRate,
    stepSize: s.stepSize,
    runner: seriesRunner(series, params, from),
    onEquity: (_ts, e) => {
      // Welford's running variance of the per-candle return.
      const r = e / prev - 1;
      prev = e;
      n++;
      const d = r - mean;
      mean += d / n;
      m2 += d * (r - mean);
    },
  });
  for (let i = from; i < to; i++) bt.feed(candleAt(c, i));
  const { summary, trades } = bt.finish();
  let gain = 0, loss = 0;
  for (const t of trades) t.pnlQuote > 0 ? gain += t.pnlQuote : loss -= t.pnlQuote;
  const sd = n > 1 ? Math.sqrt(m2 / (n - 1)) : 0;
  const spacing = to - from > 1 ? (c.ts[to - 1] - c.ts[from]) / (to - from - 1) : 60_000;
  const perYear = 365.25 * 86_400_000 / spacing;
  return {
    returnPct: summary.returnPct,
    sharpe: sd > 0 ? Math.round(mean / sd * Math.sqrt(perYear) * 1000) / 1000 : 0,
    profitFactor: loss > 0 ? Math.round(gain / loss * 1000) / 1000 : null,
    maxDrawdownPct: summary.maxDrawdownPct,
    trades: summary.trades,
    winRatePct: summary.winRatePct,
    finalQuote: summary.finalQuote,
  };
}

/** The series every combination needs, each period once. */
export function seriesFor(c: CandleColumns, combos: StrategyParams[]): SeriesMap {
  return computeSeriesMap(
    c.close,
    c.n,
    combos.flatMap((p) => [p.emaFast, p.emaSlow]),
    combos.map((p) => p.rsiPeriod),
  );
}

export type RankBy = "return" | "sharpe" | "profit_factor" | "max_dd";

/** Best first: higher return, Sharpe and profit factor; lower drawdown. */
export function rankValue(m: SweepMetrics, by: RankBy): number {
  switch (by) {
    case "return":
      return m.returnPct;
    case "sharpe":
      return m.sharpe;
    case "profit_factor":
      return m.profitFactor ?? (m.trades > 0 ? Infinity : -Infinity);
    case "max_dd":
      return -m.maxDrawdownPct;
  }
}
