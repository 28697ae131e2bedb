/**
 * The pure decisions of the Execution agent about an error: which order and alert state a
 * failed create call leads to, whether entries pause, and whether a failure counts towards
 * setting the alert aside. All built on core/errors.ts nextStep.
 */
import { type NextStep, nextStep } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { UnclassifiedRejectionError } from "../exchange/mod.ts";

/** What a failed `createOrder` does to the order and its alert. */
export type CreateFailure =
  /**
   * Refused for good (or the credentials are wrong): order REJECTED, alert REJECTED. `recheck`
   * when the refusal's cause is unknown: a placed order cannot be ruled out, so the
   * reconciler's recheck of given-up orders looks it up again for a while.
   */
  | { kind: "rejected"; order: "REJECTED"; alert: "REJECTED"; recheck: boolean }
  /**
   * Refused before it was processed (rate limit, maintenance): the order was not placed.
   * Order REJECTED, alert back to RECEIVED once entries have paused for `pauseMs`; it is then
   * planned afresh (a new attempt number, a new client order id).
   */
  | { kind: "deferred"; order: "REJECTED"; alert: "RECEIVED"; pauseMs: number }
  /**
   * Timeout, lost connection, 5xx, anything else: the order may exist. Order UNKNOWN, the
   * alert stays PROCESSING; the reconciler decides from evidence. Never resent.
   */
  | { kind: "unknown"; order: "UNKNOWN"; alert: "PROCESSING" };

export function createFailure(error: unknown): CreateFailure {
  const step = nextStep(error);
  if (step.step === "reject" || step.step === "fix_credentials") {
    return {
      kind: "rejected",
      order: "REJECTED",
      alert: "REJECTED",
      recheck: error instanceof UnclassifiedRejectionError,
    };
  }
  const pauseMs = pauseOf(step);
  if (pauseMs !== undefined) {
    return { kind: "deferred", order: "REJECTED", alert: "RECEIVED", pauseMs };
  }
  return { kind: "unknown", order: "UNKNOWN", alert: "PROCESSING" };
}

/** How long new entries pause after an error, or undefined when they do not. */
export function pauseOf(step: NextStep): number | undefined {
  if (step.step === "wait") return step.waitMs;
  if (step.step === "pause") return limits.maintenancePauseMs;
  return undefined;
}

/**
 * Whether a failure counts towards setting an alert aside: only errors that waiting does not
 * cure (a bug, bad data, a refusal). Temporary conditions (network, rate limits, maintenance,
 * the database) and wrong credentials (the operator is alerted) never count.
 */
export function countsAsFailure(step: NextStep): boolean {
  return step.step === "reject" || step.step === "fix_config" || step.step === "unclassified";
}
