/**
 * The status changes of `orders` made by the Execution agent, one verb each. Still with their
 * callers: the insert with its attempt number (store.ts insertOrder), the applied answer that
 * updates the order and its alert in one statement (order_updates.ts), and the reconciler's
 * bookkeeping of misses and checks (reconcile.ts). Reasons are stored redacted.
 */
import { redactText } from "../core/redact.ts";
import type { Sql } from "../db/mod.ts";

/** Any status → REJECTED, refused by the exchange for good. */
export async function markRejected(sql: Sql, id: number, reason: string): Promise<void> {
  await sql.query(
    `update orders set status = 'REJECTED', reject_reason = $2, updated_at = now(), checked_at = now()
      where id = $1`,
    [id, reason],
  );
}

/**
 * A refusal of unknown cause may hide a placed order: reconcile_misses > 0 puts it in the
 * reconciler's recheck of given-up orders, for a day.
 */
export async function markForRecheck(sql: Sql, id: number): Promise<void> {
  await sql.query("update orders set reconcile_misses = 1 where id = $1", [id]);
}

/** → REJECTED without reaching the book (rate limit, maintenance): the alert may try again. */
export async function markNotAccepted(sql: Sql, id: number, error: string): Promise<void> {
  await sql.query(
    `update orders set status = 'REJECTED', reject_reason = $2, updated_at = now()
      where id = $1`,
    [id, `Not accepted: ${redactText(error)}`],
  );
}

/** NEW → UNKNOWN: the create call's answer was lost; the reconciler looks the order up. */
export async function markUnknown(sql: Sql, id: number, error: string): Promise<void> {
  await sql.query(
    `update orders set status = 'UNKNOWN', submitted_at = now(), updated_at = now(),
            reject_reason = $2 where id = $1 and status = 'NEW'`,
    [id, `Outcome unknown: ${redactText(error)}`],
  );
}
