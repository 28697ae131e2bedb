/**
 * The default decision sink: stores a decision as an `inbound_alerts` row (source `strategy`,
 * status RECEIVED) with its key in `inbound_dedupe_keys`, in one transaction, and wakes the
 * Execution agent. A key already stored is a duplicate and is not stored again, which is what
 * makes a re-run after a restart never trade twice. The service may wire the inbound intake
 * instead; this sink keeps the same rows and rules.
 */
import type { TradingDecision } from "../../core/decision.ts";
import type { Log } from "../../core/log.ts";
import { type Db, isUniqueViolation } from "../../db/db.ts";
import type { DecisionSink } from "./agent.ts";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function storeDecisionSink(
  db: Db,
  options: { log: Log; onStored?: (alertId: number) => void },
): DecisionSink {
  return async (decision: TradingDecision) => {
    const body = JSON.stringify(decision);
    const hash = await sha256Hex(body);
    try {
      const id = await db.transaction(async (tx) => {
        const [alert] = await tx.query<{ id: number }>(
          `insert into inbound_alerts
             (source, idempotency_key, payload_hash, raw_body, payload, decision, status)
           values ('strategy', $1, $2, $3, $4::jsonb, $4::jsonb, 'RECEIVED') returning id`,
          [decision.idempotencyKey, hash, body, body],
        );
        await tx.query(
          `insert into inbound_dedupe_keys (idempotency_key, payload_hash, alert_id)
           values ($1, $2, $3)`,
          [decision.idempotencyKey, hash, alert.id],
        );
        return alert.id;
      });
      options.onStored?.(id);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      options.log.info("Decision {key} was already stored; not trading it again", {
        key: decision.idempotencyKey,
      });
    }
  };
}
