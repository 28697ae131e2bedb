/**
 * From a strategy signal to a `TradingDecision`: decimal strings for prices, and an
 * idempotency key derived from strategy, symbol, candle time and action so that a re-run over
 * the same candle never trades twice.
 */
import type { TradingDecision } from "../trading/decision.ts";
import type { Signal } from "./rule.ts";

export function decisionKey(
  strategy: string,
  symbol: string,
  candleTs: number,
  action: "buy" | "sell",
): string {
  return `strategy:${strategy}:${symbol}:${new Date(candleTs).toISOString()}:${action}`;
}

/**
 * A price as a decimal string with ten significant digits and no exponent; execution rounds it
 * to the instrument's tick, so more digits would only be noise.
 */
export function priceString(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`Assertion failed: price ${n} is not finite`);
  const digits = Math.max(0, 9 - Math.floor(Math.log10(Math.abs(n) || 1)));
  const s = n.toFixed(Math.min(digits, 12));
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

export function toDecision(strategy: string, symbol: string, s: Signal): TradingDecision {
  return {
    symbol,
    action: s.action,
    sl: priceString(s.stop),
    tp: priceString(s.target),
    confidence: Math.round(s.confidence * 1e4) / 1e4,
    strategy,
    idempotencyKey: decisionKey(strategy, symbol, s.candleTs, s.action),
    ts: new Date(s.candleTs).toISOString(),
  };
}

/** Remembers recently emitted keys so a repeat in this process is suppressed before any I/O. */
export function recentKeys(maxKeys: number) {
  const seen = new Set<string>();
  return {
    /** True the first time a key is offered, false for a repeat. */
    offer(key: string): boolean {
      if (seen.has(key)) return false;
      seen.add(key);
      // Sets iterate in insertion order: dropping the first entry evicts the oldest key.
      if (seen.size > maxKeys) seen.delete(seen.values().next().value as string);
      return true;
    },
    has: (key: string) => seen.has(key),
    forget: (key: string) => void seen.delete(key),
  };
}
