/**
 * Cancel requests (migration 0018) — an operator's (control/), an exit's (process.ts) and a
 * protective stop's replacement (protective.ts) — carried out on the order's own account: the
 * exchange is asked to cancel by client order id, and the order is then settled from the
 * exchange's evidence by the reconciler like every order (CANCELED, or FILLED if it filled
 * first). Nothing is marked cancelled here without the exchange's word.
 *
 * An exit's request is kept until the exchange's word has the order ended: whatever the
 * exchange answers (a refusal while the order rests, a 5xx, a lost answer), it is asked again
 * once a quarter of the request's age has passed since the last try, at least every
 * `limits.exitCancelRetryMaxMs`, and an order still resting `limits.exitCancelWarnMs` after
 * the request is told once (WARN). The other requests end at the exchange's first answer.
 */
import { errorMessage, nextStep } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { redactText } from "../core/redact.ts";
import type { Db, Sql } from "../db/mod.ts";
import type { Exchange } from "../exchange/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";
import { accountTag } from "./accounts.ts";
import { REPLACE_REQUESTER } from "./protective.ts";

interface PendingRequest {
  id: number;
  order_id: number;
  client_order_id: string;
  symbol: string;
  side: string;
  purpose: string;
  qty: string;
  price: string | null;
  status: string;
  filled: string;
  active: boolean;
  requested_by: string;
  for_exit: boolean;
  /** An exit's request not tried yet, or due again (its backoff has passed). */
  due: boolean;
  age_ms: number;
  account_name: string;
}

/**
 * Asks `serve` to cancel an order on its exchange (sent by runCancelRequests, on the order's own
 * account): false when a request of it is already waiting.
 */
export async function requestCancel(tx: Sql, orderId: number, by: string): Promise<boolean> {
  const rows = await tx.query(
    `insert into cancel_requests (order_id, requested_by) values ($1, $2)
     on conflict (order_id) where status = 'PENDING' do nothing returning id`,
    [orderId, by],
  );
  return rows.length > 0;
}

/** Carries out the account's pending cancel requests; returns how many were sent. */
export async function runCancelRequests(
  db: Db,
  exchange: Exchange,
  accountId: number,
): Promise<number> {
  // An exit's request tried before waits for its backoff: a quarter of its age at the last
  // try, at most exitCancelRetryMaxMs (an ended order's request is closed at once).
  const pending = await db.query<PendingRequest>(
    `select * from (
       select r.id, r.order_id, o.client_order_id, o.symbol, o.side, o.purpose, o.qty::text,
              o.price::text, o.status, o.filled_qty::text as filled, r.requested_by,
              o.status in ${ACTIVE_ORDER_STATUSES_SQL} as active,
              r.requested_by like 'exit:%' as for_exit,
              (r.error is null
               or r.updated_at + least($2::float8 * interval '1 millisecond',
                                       (r.updated_at - r.created_at) / 4) <= now()) as due,
              (extract(epoch from now() - r.created_at) * 1000)::float8 as age_ms,
              a.name as account_name
         from cancel_requests r join orders o on o.id = r.order_id
         join accounts a on a.id = o.account_id
        where r.status = 'PENDING' and o.account_id = $1 and o.exchange_id = $3) q
      where not for_exit or not active or due
      order by id limit 20`,
    [accountId, limits.exitCancelRetryMaxMs, exchange.id],
  );
  let sent = 0;
  for (const r of pending) {
    if (r.for_exit) {
      if (await exitCancel(db, exchange, accountId, r)) sent++;
      continue;
    }
    let error: string | null = null;
    if (!r.active) error = "the order is no longer active";
    else {
      try {
        await exchange.cancelOrder(r.client_order_id, r.symbol);
        sent++;
      } catch (e) {
        const step = nextStep(e).step;
        // The database is down, or the exchange asks to wait: the pass stops, the account
        // waits (its Retry-After), and the request is sent again after.
        if (step === "database_down" || step === "wait" || step === "pause") throw e;
        // Temporary: the request stays PENDING and is sent again on the next pass; the other
        // requests and the reconciliation of the account go on.
        if (step === "retry") continue;
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

/**
 * One exit's request: closed once the order ended (DONE, or FAILED when it filled first: its
 * fill told the operator, order_updates.ts), else sent when due. A failed try is recorded (its
 * error and time, which set the next try) and the order goes first in the reconciler's queue:
 * a refusal most often means that the order ended, which the lookup then records. True when
 * the exchange took the cancel.
 */
async function exitCancel(
  db: Db,
  exchange: Exchange,
  accountId: number,
  r: PendingRequest,
): Promise<boolean> {
  if (!r.active) {
    const filled = Number(r.filled) > 0;
    await db.query(
      `update cancel_requests set status = $2, error = $3, updated_at = now() where id = $1`,
      [
        r.id,
        filled ? "FAILED" : "DONE",
        filled ? `the order filled ${r.filled} of ${r.qty} first (${r.status})` : null,
      ],
    );
    return false;
  }
  let error: unknown;
  try {
    await exchange.cancelOrder(r.client_order_id, r.symbol);
  } catch (e) {
    if (nextStep(e).step === "database_down") throw e;
    error = e;
  }
  await db.transaction(async (tx) => {
    await tx.query(
      `update cancel_requests set status = case when $2::text is null then 'DONE' else status end,
              error = $2, updated_at = now() where id = $1`,
      [r.id, error === undefined ? null : redactText(errorMessage(error))],
    );
    await tx.query("update orders set checked_at = null where id = $1", [r.order_id]);
    if (error === undefined) {
      await enqueueNotification(tx, {
        severity: "INFO",
        kind: NotificationKind.controlAction,
        text: `Cancel of order ${r.client_order_id} (${r.symbol}) sent to the exchange`,
        dedupeKey: `cancel-request:${r.id}`,
        accountId,
      });
    } else if (
      r.age_ms >= limits.exitCancelWarnMs &&
      (r.status === "OPEN" || r.status === "PARTIALLY_FILLED")
    ) {
      await enqueueNotification(tx, {
        severity: "WARN",
        kind: NotificationKind.exitCancelStuck,
        text: stuckText(accountId, r, redactText(errorMessage(error))),
        dedupeKey: `cancel-request:${r.id}:stuck`,
        accountId,
      });
    }
  });
  // Asked to wait (429, maintenance): the pass stops here and the account waits.
  const step = error === undefined ? undefined : nextStep(error).step;
  if (step === "wait" || step === "pause") throw error;
  return error === undefined;
}

/** The operator's message for an exit's cancel that the exchange keeps not carrying out. */
function stuckText(accountId: number, r: PendingRequest, error: string): string {
  const tag = accountTag({ id: accountId, name: r.account_name });
  const alert = r.requested_by.replace(/^exit:/, "");
  const minutes = Math.round(r.age_ms / 60_000);
  const apart = Math.round(limits.exitCancelRetryMaxMs / 1000);
  const order = `${r.purpose === "stop_loss" ? "stop" : r.side} ${r.client_order_id} (${
    Number(r.qty)
  } ${r.price ? `at ${Number(r.price)}` : "at market"})`;
  const head = `${tag}The exit of ${r.symbol} (${alert}) asked ${minutes} min ago for the ` +
    `cancel of ${order}, and the exchange has not cancelled it: ${error}. It is asked again, ` +
    `at most ${apart} s apart, until it is. `;
  return head +
    (r.side === "buy"
      ? "Should it fill first, an exit still waiting for it sells that too; an exit already " +
        "sold leaves it a new position, guarded by its stop. Cancel it on the exchange by hand " +
        "if it must not fill"
      : "The exit waits for it before it sells. Cancel it on the exchange by hand to let the " +
        "exit sell");
}
