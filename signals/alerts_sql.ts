/**
 * The status changes of `inbound_alerts` made on the way to an order, one verb each. The
 * intake's insert (intake.ts, record_inbound_decision) and the combined order-and-alert update
 * of an applied answer (execution/order_updates.ts, one statement for one commit) stay with
 * their callers. Errors are stored redacted.
 */
import { redactText } from "../core/redact.ts";
import type { Sql } from "../db/mod.ts";

export interface ClaimedAlert {
  id: number;
  /** The account it is executed for; null until the Execution agent routes it. */
  account_id: number | null;
  source: string;
  decision: unknown;
  received_at: Date;
}

/**
 * An alert counts as sent once it has an order that reached the book: one not REJECTED, or
 * one that filled. Orders refused before reaching the book (429, maintenance) do not count.
 */
const NOT_SENT = `not exists (select 1 from orders o where o.alert_id = a.id
                               and (o.status <> 'REJECTED' or o.filled_qty > 0))`;

/**
 * RECEIVED → PROCESSING for up to `limit` alerts, oldest first, skipping locked ones and those
 * of the accounts in `waiting` (their exchange asked them to wait): a waiting account's alerts
 * never fill a batch and hold up the others'.
 */
export function claimReceived(
  sql: Sql,
  limit: number,
  waiting: number[] = [],
): Promise<ClaimedAlert[]> {
  return sql.query<ClaimedAlert>(
    `update inbound_alerts set status = 'PROCESSING'
      where id in (select id from inbound_alerts
                    where status = 'RECEIVED' and decision is not null
                      and (account_id is null or account_id <> all($2::int8[]))
                    order by id limit $1 for update skip locked)
      returning id, account_id::int, source, decision, received_at`,
    [limit, waiting],
  );
}

/** PROCESSING → `status` (EXECUTED, REJECTED, DUPLICATE, …), with its error if any. */
export async function finishAlert(
  sql: Sql,
  id: number,
  status: string,
  error: string | null,
): Promise<void> {
  await sql.query(
    `update inbound_alerts set status = $2, error = $3, processed_at = now()
      where id = $1 and status = 'PROCESSING'`,
    [id, status, error === null ? null : redactText(error)],
  );
}

/** PROCESSING → REJECTED with the reason. */
export function rejectAlert(sql: Sql, id: number, reason: string): Promise<void> {
  return finishAlert(sql, id, "REJECTED", reason);
}

/** PROCESSING → RECEIVED: not sent, to be planned again on a later pass. */
export async function releaseAlert(sql: Sql, id: number): Promise<void> {
  await sql.query(
    "update inbound_alerts set status = 'RECEIVED' where id = $1 and status = 'PROCESSING'",
    [id],
  );
}

/** PROCESSING → RECEIVED unless the alert was sent (see NOT_SENT). */
export async function releaseUnlessSent(sql: Sql, id: number): Promise<void> {
  await sql.query(
    `update inbound_alerts a set status = 'RECEIVED' where a.id = $1 and a.status = 'PROCESSING'
        and ${NOT_SENT}`,
    [id],
  );
}

/** PROCESSING → FAILED unless the alert was sent; false when nothing changed. */
export async function failUnlessSent(sql: Sql, id: number, reason: string): Promise<boolean> {
  const rows = await sql.query(
    `update inbound_alerts a set status = 'FAILED', error = $2, processed_at = now()
      where a.id = $1 and a.status = 'PROCESSING' and ${NOT_SENT}
      returning a.id`,
    [id, redactText(reason)],
  );
  return rows.length > 0;
}

/** After a restart: every PROCESSING alert that was not sent → RECEIVED; returns how many. */
export async function recoverUnsent(sql: Sql): Promise<number> {
  const rows = await sql.query(
    `update inbound_alerts a set status = 'RECEIVED'
      where a.status = 'PROCESSING' and ${NOT_SENT}
      returning a.id`,
  );
  return rows.length;
}

/**
 * PROCESSING → RECEIVED for alerts of a pass that failed (for example the database went away
 * mid-pass, so their own release failed too), when no order of theirs was sent. Only for ids
 * no pass is still working on: the one running `serve` runs its passes one after another.
 */
export async function releaseStranded(sql: Sql, ids: number[]): Promise<number> {
  const rows = await sql.query(
    `update inbound_alerts a set status = 'RECEIVED'
      where a.id = any($1::int8[]) and a.status = 'PROCESSING' and ${NOT_SENT}
      returning a.id`,
    [ids],
  );
  return rows.length;
}
