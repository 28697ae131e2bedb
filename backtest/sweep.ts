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
import { createBacktest, type ExitRules } from "./engine.ts";
import {
  candleAt,
  type CandleColumns,
  computeSeriesMap,
  type SeriesMap,
  seriesRunner,
} from "./sweep_series.ts";

/** A combination: the strategy's parameters and, when the grid varies them, the trail's. */
export type SweepParams = StrategyParams & { trailPct?: number; trailActivationPct?: number };

/** Sweepable parameters: spec name → SweepParams field, and whether it is a whole number. */
const PARAMS: Record<string, [keyof SweepParams, boolean]> = {
  ema_fast: ["emaFast", true],
  ema_slow: ["emaSlow", true],
  rsi_period: ["rsiPeriod", true],
  rsi_overbought: ["rsiOverbought", false],
  rsi_oversold: ["rsiOversold", false],
  stop_pct: ["stopPct", false],
  take_profit_pct: ["takeProfitPct", false],
  confidence_min: ["confidenceMin", false],
  risk_pct: ["riskPct", false],
  trail_pct: ["trailPct", false],
  trail_activation_pct: ["trailActivationPct", false],
};

/** The trail's values as the engine and the live rule take them (trading/trail.ts). */
const RANGES: Record<string, [(v: number) => boolean, string]> = {
  trail_pct: [(v) => v > 0 && v < 100, "above 0 and below 100"],
  trail_activation_pct: [(v) => v >= 0, "from 0 up"],
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
    const bounds = RANGES[name];
    if (bounds && !values.every(bounds[0])) {
      throw new UsageError(`--sweep ${name} takes numbers ${bounds[1]}, got ${values.join(", ")}`);
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
export function combinations(base: StrategyParams, grid: Grid): SweepParams[] {
  let out: SweepParams[] = [{ ...base }];
  for (const [name, values] of grid) {
    const key = PARAMS[name][0];
    out = out.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  }
  return out;
}

/** The grid's values of one combination, by spec name (for printing). */
export function gridValues(p: SweepParams, grid: Grid): Record<string, number> {
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
  /** The exit flags; a combination's trail_pct / trail_activation_pct win over them. */
  exits?: ExitRules;
}

/** The exits of one combination: the flags', with the grid's trail values over them. */
export function combinationExits(p: SweepParams, exits?: ExitRules): ExitRules | undefined {
  if (p.trailPct === undefined && p.trailActivationPct === undefined) return exits;
  return {
    ...exits,
    trailPct: p.trailPct ?? exits?.trailPct,
    trailActivationPct: p.trailActivationPct ?? exits?.trailActivationPct,
  };
}

/** One combination over candles [from, to): the engine with a runner over shared series. */
export function runCombination(
  c: CandleColumns,
  series: SeriesMap,
  params: SweepParams,
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
    exits: combinationExits(params, s.exits),
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
