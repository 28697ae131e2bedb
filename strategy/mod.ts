/** The public face of strategy/: what other rooms may use. */

export { candlesBetween, type Series, timeframeMs } from "./candles.ts";
export { strategyComponent } from "./component.ts";
export { loadStrategy, paramsFromConfig } from "./params.ts";
export type { StrategyParams } from "./rule.ts";
export { createRunner } from "./runner.ts";
export { evaluate, type RuleOutcome } from "./rule.ts";
export type { IndicatorSnapshot } from "./indicators.ts";
export { type CandleSink, csvSink, downloadCandles, tableSink } from "./history.ts";
