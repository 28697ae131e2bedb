/**
 * The pure part of the Risk agent: whether a long position's stop or target is hit at the last
 * price. The stop wins when both are (a stop at or above the target is a data error, and
 * getting out is the safer reading of it).
 */

export interface RiskPosition {
  /** Decimal strings as stored; null or undefined when not set. */
  stopPrice?: string | null;
  takeProfitPrice?: string | null;
}

export type RiskKind = "stop_loss" | "take_profit";

export interface RiskAction {
  kind: RiskKind;
  /** The stop or target price that was crossed. */
  triggerPrice: string;
}

const usable = (p: string | null | undefined): number | undefined => {
  if (p === null || p === undefined || p === "") return undefined;
  const n = Number(p);
  return Number.isFinite(n) && n > 0 ? n : undefined;
};

export function checkRisk(position: RiskPosition, lastPrice: number): RiskAction | undefined {
  // A missing or nonsensical price is never a trigger: selling on bad data is worse than
  // waiting for the next pass.
  if (!Number.isFinite(lastPrice) || lastPrice <= 0) return undefined;
  const stop = usable(position.stopPrice);
  if (stop !== undefined && lastPrice <= stop) {
    return { kind: "stop_loss", triggerPrice: position.stopPrice! };
  }
  const target = usable(position.takeProfitPrice);
  if (target !== undefined && lastPrice >= target) {
    return { kind: "take_profit", triggerPrice: position.takeProfitPrice! };
  }
  return undefined;
}
