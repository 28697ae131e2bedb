/**
 * The default decision sink: hands a decision to the shared intake (signals/intake.ts) as
 * source `strategy`, the same path as webhook and CSV signals: the strategies table decides
 * (enabled, symbols, confidence floor), the key in `inbound_dedupe_keys` makes a re-run after a
 * restart a duplicate, and an accepted decision is stored RECEIVED and wakes the Execution
 * agent.
 */
import type { TradingDecision } from "../trading/decision.ts";
import type { Log } from "../core/log.ts";
import type { Db } from "../db/mod.ts";
import { recordDecision } from "../signals/mod.ts";
import type { DecisionSink } from "./agent.ts";

export function storeDecisionSink(
  db: Db,
  options: {
    log: Log;
    onStored?: (alertId: number) => void;
    /**
     * The agent's clock: the receipt time execution's SIGNAL_MAX_AGE_S counts from, on the
     * same clock as execution's (else the database's now()).
     */
    now?: () => Date;
  },
): DecisionSink {
  return async (decision: TradingDecision) => {
    const result = await recordDecision(db, {
      source: "strategy",
      rawBody: JSON.stringify(decision),
      decision,
      receivedAt: options.now?.(),
    });
    switch (result.outcome) {
      case "accepted":
        if (result.alertId !== undefined) options.onStored?.(result.alertId);
        return;
      case "duplicate":
        options.log.info("Decision {key} was already stored; not trading it again", {
          key: decision.idempotencyKey,
        });
        return;
      default:
        options.log.warn("Decision {key} was refused: {error}", {
          key: decision.idempotencyKey,
          error: result.error,
        });
    }
  };
}
