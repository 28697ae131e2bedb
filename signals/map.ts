/**
 * The pure half of the intake: a validated alert becomes a TradingDecision, and a strategy row
 * decides whether it is accepted and fills in the stop and target it leaves out. No I/O.
 */
import type { TradingDecision } from "../trading/decision.ts";
import { compareDecimal, scaleByPct } from "../trading/decimal.ts";
import type { PineAlert } from "./pine_schema.ts";
import type { StrategyRow } from "./strategies.ts";

export type Mapped = { ok: true; decision: TradingDecision } | { ok: false; error: string };

/** The decision as the source gave it; the idempotency key may still be missing. */
export type DecisionInput = Omit<TradingDecision, "idempotencyKey"> & { idempotencyKey?: string };

export function alertToDecision(alert: PineAlert, symbol: string): DecisionInput {
  const d: DecisionInput = { symbol, action: alert.side, strategy: alert.strategy };
  if (alert.qty !== undefined) d.qty = alert.qty;
  if (alert.price !== undefined) d.price = alert.price;
  if (alert.sl !== undefined) d.sl = alert.sl;
  if (alert.tp !== undefined) d.tp = alert.tp;
  if (alert.trail_pct !== undefined) d.trailPct = alert.trail_pct;
  if (alert.confidence !== undefined) d.confidence = alert.confidence;
  if (alert.ts !== undefined) d.ts = new Date(alert.ts).toISOString();
  if (alert.idempotency_key !== undefined) d.idempotencyKey = alert.idempotency_key;
  return d;
}

/** JSON with object keys sorted at every level, so equal payloads hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    // Keys sorted by UTF-16 code units (sort's default order); no entry arrays built: this
    // runs for every signal (its payload hash).
    const o = value as Record<string, unknown>;
    let out = "";
    for (const k of Object.keys(o).sort()) {
      const v = o[k];
      if (v !== undefined) out += `${out ? "," : ""}${JSON.stringify(k)}:${canonicalJson(v)}`;
    }
    return `{${out}}`;
  }
  return JSON.stringify(value);
}

/**
 * Applies the strategy's mapping. The stop and target are derived from the strategy's distances
 * only when a price is known; otherwise they stay empty and execution derives them from the
 * market price it trades at.
 */
export function applyStrategy(
  input: TradingDecision,
  strategy: StrategyRow | undefined,
): Mapped {
  const name = input.strategy;
  if (!strategy) {
    return {
      ok: false,
      error: `Strategy "${name}" is unknown; add it with: pg-solo-lite strategies add ${name}`,
    };
  }
  if (!strategy.enabled) {
    return {
      ok: false,
      error: `Strategy "${name}" is disabled; enable it with: pg-solo-lite strategies add ${name}`,
    };
  }
  if (strategy.symbols && strategy.symbols.length > 0 && !strategy.symbols.includes(input.symbol)) {
    return {
      ok: false,
      error: `Symbol ${input.symbol} is not allowed for strategy "${name}" (allowed: ${
        strategy.symbols.join(", ")
      })`,
    };
  }
  const floor = Number(strategy.confidence_min);
  if (input.confidence !== undefined && input.confidence < floor) {
    return {
      ok: false,
      error: `Confidence ${input.confidence} is below the floor ${floor} of strategy "${name}"`,
    };
  }
  const d: TradingDecision = { ...input };
  const up = d.action === "buy";
  if (d.price !== undefined) {
    if (d.sl === undefined) d.sl = scaleByPct(d.price, strategy.stop_pct, up ? -1 : 1);
    if (d.tp === undefined) d.tp = scaleByPct(d.price, strategy.take_profit_pct, up ? 1 : -1);
    // Only an entry needs its stop below the price; a spot sell closes what a buy opened.
    if (up && compareDecimal(d.sl, d.price) >= 0) {
      return { ok: false, error: `Stop ${d.sl} must be below the price ${d.price} for a buy` };
    }
    // A target at or below the price of a buy would sell it at once, at a loss (a laddered
    // strategy's slices replace the alert's target: it is not looked at).
    if (
      up && d.tp !== undefined && !strategy.tp_ladder?.length && compareDecimal(d.tp, d.price) <= 0
    ) {
      return { ok: false, error: `Target ${d.tp} must be above the price ${d.price} for a buy` };
    }
  }
  return { ok: true, decision: d };
}
