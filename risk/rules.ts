/**
 * The pure part of the Risk agent: whether a long position's stop or target is hit at the last
 * price. The stop wins when both are (a stop at or above the target is a data error, and
 * getting out is the safer reading of it). And what a finished exit means for its action.
 */
import { redactText } from "../core/redact.ts";

export interface RiskPosition {
  /** Decimal strings as stored; null or undefined when not set. */
  stopPrice?: string | null;
  takeProfitPrice?: string | null;
}

/** A stop or target crossed, or an operator's exit (control/). */
export type RiskKind = "stop_loss" | "take_profit" | "exit";

export interface RiskAction {
  kind: RiskKind;
  /** The stop or target price that was crossed. */
  triggerPrice: string;
  /** A slice of a laddered take-profit: a partial exit of its own quantity. */
  slice?: SliceExit;
}

/** Which slice of a ladder (1-based, of how many) and what it sells: the last sells the rest. */
export interface SliceExit {
  n: number;
  of: number;
  /** The slice's planned quantity; undefined for the last slice (everything held). */
  qty?: string;
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

/**
 * The next slice of a laddered take-profit whose target the last price reached, if any. Only
 * the next one: slices are sold one at a time, in order, each once (`filled` counts those done).
 */
export function ladderExit(
  slices: readonly { price: string; qty: string }[] | null | undefined,
  filled: number,
  lastPrice: number,
): RiskAction | undefined {
  if (!slices || !Number.isFinite(lastPrice) || lastPrice <= 0) return undefined;
  const next = slices[filled];
  const target = usable(next?.price);
  if (target === undefined || lastPrice < target) return undefined;
  const last = filled === slices.length - 1;
  return {
    kind: "take_profit",
    triggerPrice: next.price,
    slice: { n: filled + 1, of: slices.length, qty: last ? undefined : next.qty },
  };
}

/** A finished exit of a PLANNED risk action, as settle() reads it. */
export interface FinishedExit {
  /** "stop_loss" or "take_profit". */
  kind: string;
  positionId: number;
  alertId: number;
  alertStatus: string;
  alertError: string | null;
  /** The status of the exit's last order; null when it has none. */
  orderStatus: string | null;
  positionOpen: boolean;
  positionQty: string;
  /** Exits handed over so far for this position and kind (and slice), this one included. */
  attempts: number;
  /**
   * A slice of a ladder before its last: a partial exit, done once its sell filled the slice
   * (the position stays open for the slices after it).
   */
  partial?: boolean;
}

export type ExitVerdict =
  | { status: "DONE" }
  | { status: "FAILED"; error: string; severity: "WARN" | "CRITICAL"; text: string };

/**
 * DONE only when the exit executed and the position is closed — or, for a partial exit (a
 * slice), when its sell filled. Otherwise FAILED with the reason: the level stays armed (WARN)
 * until `maxAttempts` exits were tried, then CRITICAL — the operator must close the position
 * by hand. The error is redacted (it may quote the exchange's answer).
 */
export function exitVerdict(r: FinishedExit, maxAttempts: number): ExitVerdict {
  // Closed is what every exit is for: also when its sell was refused because a resting stop
  // filled first and closed the position.
  if (!r.positionOpen && (r.alertStatus === "EXECUTED" || r.alertStatus === "REJECTED")) {
    return { status: "DONE" };
  }
  if (r.partial && r.alertStatus === "EXECUTED" && r.orderStatus === "FILLED") {
    return { status: "DONE" };
  }
  const error = redactText(
    r.alertStatus !== "EXECUTED"
      ? (r.alertError ?? `alert ${r.alertId} ended ${r.alertStatus}`)
      : `the exit order ended ${r.orderStatus ?? "without an order"} with ${r.positionQty} ` +
        `still open`,
  );
  if (r.kind === "exit") {
    // The operator's exit: never tried again on its own, and no level to keep armed; the
    // operator may ask again at once (control/actions.ts).
    return {
      status: "FAILED",
      error,
      severity: "CRITICAL",
      text: `The exit of position ${r.positionId} asked by the operator did not close it: ` +
        `${error}; it is not tried again on its own: ask again (/exit ${r.positionId} or ` +
        `pg-solo-lite exit ${r.positionId}) or close it on the exchange`,
    };
  }
  const rearmed = r.attempts < maxAttempts;
  return {
    status: "FAILED",
    error,
    severity: rearmed ? "WARN" : "CRITICAL",
    text: `The ${r.kind.replace("_", "-")} exit of position ${r.positionId} did not ` +
      `${r.partial ? "sell its slice" : "close it"}: ${error}; ${
        rearmed
          ? `the level stays armed (attempt ${r.attempts} of ${maxAttempts})`
          : "no more automatic attempts: close the position by hand"
      }`,
  };
}
