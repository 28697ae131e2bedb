/** The public face of backtest/: what other rooms may use. */

export { type CsvReport, streamCandleCsv } from "./csv.ts";
export { type BacktestSummary, createBacktest, type Trade } from "./engine.ts";
