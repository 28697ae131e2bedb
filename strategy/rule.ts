/**
 * The EMA-cross rule with an RSI filter, pure. A buy when the fast EMA crosses above the slow
 * one while RSI is below overbought; a sell when it crosses below while RSI is above oversold.
 * Every signal carries its plan: entry (the close), stop (the invalidation) and target.
 */
import type { IndicatorParams, IndicatorSnapshot } from "./indicators.ts";

export interface StrategyParams extends IndicatorParams {
  /** Name of the strategy (the `strategies` row); part of every idempotency key. */
  name: string;
  rsiOverbought: number;
  rsiOversold: number;
  /** Stop distance from the entry, percent. */
  stopPct: number;
  /** Target distance from the entry, percent. */
  takeProfitPct: number;
  /** Signals below this confidence are dropped. */
  confidenceMin: number;
  /** Percent of equity risked per trade (sizing). */
  riskPct: number;
  /** Largest notional of one entry, quote asset. */
  maxNotionalQuote?: number;
}

export interface Signal {
  action: "buy" | "sell";
  /** Open time of the closed candle that produced the signal, epoch ms. */
  candleTs: number;
  entry: number;
  stop: number;
  target: number;
  confidence: number;
  rsi: number;
}

export type RuleOutcome =
  | { kind: "none" }
  | { kind: "signal"; signal: Signal }
  | { kind: "dropped"; action: "buy" | "sell"; reason: string };

const NONE: RuleOutcome = { kind: "none" };

const clamp01 = (x: number) => x < 0 ? 0 : x > 1 ? 1 : x;

/**
 * Applies the rule to two consecutive snapshots. Confidence is the room RSI still leaves for
 * the move: for a buy, the share of the way from overbought back down to the midline (RSI 50
 * or below → 1, halfway to 70 → 0.5, at 70 → 0); for a sell the mirror image towards oversold.
 */
export function evaluate(
  prev: IndicatorSnapshot | null,
  cur: IndicatorSnapshot | null,
  candle: { ts: number; close: number },
  p: StrategyParams,
): RuleOutcome {
  if (!prev || !cur) return NONE;
  const crossedUp = prev.emaFast <= prev.emaSlow && cur.emaFast > cur.emaSlow;
  const crossedDown = prev.emaFast >= prev.emaSlow && cur.emaFast < cur.emaSlow;
  if (!crossedUp && !crossedDown) return NONE;
  const action = crossedUp ? "buy" : "sell";
  if (action === "buy" && !(cur.rsi < p.rsiOverbought)) {
    return { kind: "dropped", action, reason: `RSI ${cur.rsi.toFixed(2)} is overbought` };
  }
  if (action === "sell" && !(cur.rsi > p.rsiOversold)) {
    return { kind: "dropped", action, reason: `RSI ${cur.rsi.toFixed(2)} is oversold` };
  }
  const confidence = clamp01(
    action === "buy"
      ? (p.rsiOverbought - cur.rsi) / (p.rsiOverbought - 50)
      : (cur.rsi - p.rsiOversold) / (50 - p.rsiOversold),
  );
  const entry = candle.close;
  const stop = action === "buy" ? entry * (1 - p.stopPct / 100) : entry * (1 + p.stopPct / 100);
  const target = action === "buy"
    ? entry * (1 + p.takeProfitPct / 100)
    : entry * (1 - p.takeProfitPct / 100);
  return checkPlan(
    { action, candleTs: candle.ts, entry, stop, target, confidence, rsi: cur.rsi },
    p.confidenceMin,
  );
}

/**
 * The runbook's principle, applied to every signal: no trade without an invalidation level on
 * the right side of the entry, and none below the confidence floor.
 */
export function checkPlan(s: Signal, confidenceMin: number): RuleOutcome {
  const stopOk = Number.isFinite(s.stop) && s.stop > 0 &&
    (s.action === "buy" ? s.stop < s.entry : s.stop > s.entry);
  if (!stopOk) {
    return { kind: "dropped", action: s.action, reason: `no valid stop (${s.stop})` };
  }
  if (!(s.confidence >= confidenceMin)) {
    return {
      kind: "dropped",
      action: s.action,
      reason: `confidence ${s.confidence.toFixed(3)} is below the floor ${confidenceMin}`,
    };
  }
  return { kind: "signal", signal: s };
}
