/** The public face of backtest/: what other rooms may use. */

export { type CsvReport, streamCandleCsv } from "./csv.ts";
export {
  type BacktestSummary,
  createBacktest,
  type ExitRules,
  type Trade,
  type TradeExit,
} from "./engine.ts";
export {
  combinations,
  type Grid,
  gridValues,
  parseGrid,
  type RankBy,
  rankValue,
  type RunSettings,
  type SweepMetrics,
} from "./sweep.ts";
export { runSweep, type SweepResult } from "./sweep_pool.ts";
export { columnCollector } from "./sweep_series.ts";
export { backtestPage } from "./page.ts";
export { createPortfolioBacktest, type PortfolioTrade } from "./portfolio.ts";
