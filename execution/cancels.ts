/**
 * Operators' cancel requests (control/, migration 0018), carried out on the order's own account:
 * the exchange is asked to cancel by client order id, and the order is then settled from the
 * exchange's evidence by the reconciler like every order (CANCELED, or FILLED if it filled
 * first). Nothing is marked cancelled here without the exchange's word.
 */
import { errorMessage, nextStep } from "../core/errors.ts";
import { redactText } from "../core/redact.ts";
import type { Db } from "../db/mod.ts";
import type { Exchange } from "../exchange/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";
import { REPLACE_REQUESTER } from "./protective.ts";

/** Carries out the account's pending cancel requests; returns how many were sent. */
export async function runCancelRequests(
  db: Db,
  exchange: Exchange,
  accountId: number,
): Promise<number> {
  const pending = await db.query<{
    id: number;
    order_id: number;
    client_order_id: string;
    symbol: string;
    active: boolean;
    requested_by: string;
  }>(
    `select r.id, r.order_id, o.client_order_id, o.symbol, r.requested_by,
            o.status in ${ACTIVE_ORDER_STATUSES_SQL} as active
       from cancel_requests r join orders o on o.id = r.order_id
      where r.status = 'PENDING' and o.account_id = $1 order by r.id limit 20`,
    [accountId],
  );
  let sent = 0;
  for (const r of pending) {
    let error: string | null = null;
    if (!r.active) error = "the order is no longer active";
    else {
      try {
        await exchange.cancelOrder(r.client_order_id, r.symbol);
        sent++;
      } catch (e) {
        const step = nextStep(e).step;
        if (step === "database_down") throw e;
        // Temporary: the request stays PENDING and is sent again on the next pass; the other
        // requests and the reconciliation of the account go on.
        if (step === "retry" || step === "wait" || step === "pause") continue;
        error = redactText(errorMessage(e));
      }
    }
    await db.transaction(async (tx) => {
      await tx.query(
        `update cancel_requests set status = $2, error = $3, updated_at = now() where id = $1`,
        [r.id, error === null ? "DONE" : "FAILED", error],
      );
      // First in the reconciler's queue: its new state is recorded on the next pass.
      await tx.query("update orders set checked_at = null where id = $1", [r.order_id]);
      // A stop's replacement is routine and not told, nor is its failure (most often the stop
      // filled first, which its fill tells): the resting stop still protects at its own level,
      // the software watch at the position's, and the protector asks again later.
      if (r.requested_by === REPLACE_REQUESTER) return;
      await enqueueNotification(tx, {
        severity: error === null ? "INFO" : "WARN",
        kind: NotificationKind.controlAction,
        text: error === null
          ? `Cancel of order ${r.client_order_id} (${r.symbol}) sent to the exchange`
          : `Cancel of order ${r.client_order_id} (${r.symbol}) not done: ${error}`,
        // A cancel that keeps failing for one order (not on the exchange yet) is told once.
        dedupeKey: error === null ? `cancel-request:${r.id}` : `cancel-failed:${r.order_id}`,
        accountId,
      });
    });
  }
  return sent;
}
