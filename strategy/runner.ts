/**
 * One symbol's strategy state: indicators plus the previous snapshot, fed one closed candle at
 * a time. Shared by the live agent and the backtest.
 */
import { createIndicators, type IndicatorSnapshot } from "./indicators.ts";
import { evaluate, type RuleOutcome, type StrategyParams } from "./rule.ts";

export interface StrategyRunner {
  /** Feeds one closed candle and applies the rule. */
  onCandle(candle: { ts: number; close: number }): RuleOutcome;
  /** Open time of the last candle fed, or undefined. */
  readonly lastTs: number | undefined;
  readonly last: IndicatorSnapshot | null;
  /** Candles fed so far. */
  readonly count: number;
}

export function createRunner(params: StrategyParams): StrategyRunner {
  const indicators = createIndicators(params);
  let prev: IndicatorSnapshot | null = null;
  let lastTs: number | undefined;
  return {
    onCandle(candle) {
      const cur = indicators.update(candle.close);
      const outcome = evaluate(prev, cur, candle, params);
      prev = cur;
      lastTs = candle.ts;
      return outcome;
    },
    get lastTs() {
      return lastTs;
    },
    get last() {
      return prev;
    },
    get count() {
      return indicators.count;
    },
  };
}
