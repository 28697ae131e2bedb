/**
 * The SQL of the outbox worker, grouped by table. Claiming is one statement: rows are locked
 * with FOR UPDATE SKIP LOCKED and their send_after pushed past a lease in the same statement,
 * so a second worker skips them while they are locked and does not see them as due once the
 * statement commits. Sending happens outside any transaction.
 */
import { NotificationKind } from "./kinds.ts";
import type { Sql } from "../db/mod.ts";
import { enqueueNotification, type Severity } from "./enqueue.ts";
import { collapseKey } from "./policy.ts";

/**
 * Added to the worker's own bookkeeping statements (claims, SENT marks, reschedules): their
 * commit does not wait for the WAL flush. A database crash can lose only the last moments of
 * them, which makes those rows be sent once more, the same bound as a crash of this process.
 * Enqueueing stays durable. set_config(…, true) lasts for the statement's own transaction.
 */
const ASYNC_COMMIT = "(select set_config('synchronous_commit', 'off', true)) is not null";

export interface ClaimedRow {
  id: number;
  chat_id: number;
  severity: Severity;
  kind: string;
  text: string;
  dedupe_key: string;
  fail_count: number;
  chat_active: boolean;
  chat_label: string | null;
  /**
   * The id of the account the chat is tied to now, when the row is not of it (queued before
   * the tie, or of the service): the row must not be sent there (migration 0033).
   */
  chat_tied_apart: string | null;
}

/** Kinds raised by the worker itself: their own failure never raises another alert. */
export const ALERT_KINDS = new Set<string>([
  NotificationKind.outboxFailed,
  NotificationKind.chatDeactivated,
]);

export interface ClaimOptions {
  now: Date;
  leaseUntil: Date;
  batchSize: number;
  /** At most this many rows per chat (its rate limit over the claim horizon); 0 = no cap. */
  perChatMax: number;
}

/**
 * Due means send_after <= the later of the worker's clock and the database's: rows are queued
 * with the database's now() (microseconds), the worker's clock has milliseconds and may lag
 * the database host; without this a fresh row could wait for the next poll.
 */
export async function claimDue(sql: Sql, o: ClaimOptions): Promise<ClaimedRow[]> {
  // The per-chat cap keeps one busy chat from holding a whole batch under its lease while
  // its rate limit lets only one message a second through.
  const lease = `update notification_outbox o
        set send_after = $3, updated_at = now()
       from telegram_chats c
      where o.id = any(array(select id from due)) and c.chat_id = o.chat_id and ${ASYNC_COMMIT}
     returning o.id, o.chat_id, o.severity, o.kind, o.text, o.dedupe_key, o.fail_count,
               c.active as chat_active, c.label as chat_label,
               case when c.account_id is not null and o.account_id is distinct from c.account_id
                    then c.account_id::text end as chat_tied_apart`;
  if (o.perChatMax === 0) {
    return await sql.query<ClaimedRow>(
      `with due as (
         select id from notification_outbox
          where status = 'PENDING' and send_after <= greatest($1::timestamptz, now())
          order by send_after, id
          limit $2
          for update skip locked
       ) ${lease}`,
      [o.now, o.batchSize, o.leaseUntil],
    );
  }
  // The per-chat cap keeps one busy chat from holding a whole batch under its lease while
  // its rate limit lets only one message a second through. Each chat's oldest due rows are
  // the candidates (migration 0026's index), so a backlog of one chat, however long, never
  // keeps another chat's rows out of the batch. Candidates are picked first and locked after.
  return await sql.query<ClaimedRow>(
    `with candidates as (
       select d.id from telegram_chats c
       cross join lateral (
         select id from notification_outbox
          where chat_id = c.chat_id and status = 'PENDING'
            and send_after <= greatest($1::timestamptz, now())
          order by send_after, id
          limit $4) d
     ), due as (
       select id from notification_outbox
        where id in (select id from candidates) and status = 'PENDING' and send_after <= greatest($1::timestamptz, now())
        order by send_after, id
        limit $2
        for update skip locked
     ) ${lease}`,
    [o.now, o.batchSize, o.leaseUntil, o.perChatMax],
  );
}

export async function markSent(
  sql: Sql,
  sent: { id: number; messageId: number }[],
): Promise<void> {
  if (sent.length === 0) return;
  // A row failed by a chat deactivation while its send was in flight was still delivered.
  // `= any(array(…))` keeps the plan on the primary key as the table grows.
  await sql.query(
    `update notification_outbox o
        set status = 'SENT', telegram_message_id = ($1::jsonb ->> o.id::text)::bigint,
            sent_at = now(), updated_at = now()
      where o.id = any(array(select jsonb_object_keys($1::jsonb)::bigint))
        and o.status <> 'SENT' and ${ASYNC_COMMIT}`,
    [JSON.stringify(Object.fromEntries(sent.map((s) => [s.id, s.messageId])))],
  );
}

/** Puts rows back as due at `at` without counting a failure (429, rate limit, shutdown). */
export async function reschedule(
  sql: Sql,
  rows: { id: number; at: Date; error?: string }[],
): Promise<void> {
  if (rows.length === 0) return;
  await sql.query(
    `update notification_outbox o
        set send_after = s.at, last_error = coalesce(s.error, o.last_error), updated_at = now()
       from jsonb_to_recordset($1::jsonb) as s(id bigint, at timestamptz, error text)
      where o.id = s.id and o.status = 'PENDING' and ${ASYNC_COMMIT}`,
    [JSON.stringify(rows.map((r) => ({ id: r.id, at: r.at.toISOString(), error: r.error })))],
  );
}

/**
 * Makes a PENDING row due at `at` and wakes the worker: the message whose chat was just followed
 * to its new id is sent there at once. Durable, unlike reschedule: it commits with the chat's
 * move. False when the row is not queued any more (its chat was removed, say).
 */
export async function resendNow(sql: Sql, id: number, at: Date): Promise<boolean> {
  const due = await sql.query(
    `update notification_outbox set send_after = $2, updated_at = now()
      where id = $1 and status = 'PENDING' returning id`,
    [id, at],
  );
  if (due.length > 0) await sql.query("select pg_notify('outbox', '')");
  return due.length > 0;
}

export async function markRetry(
  sql: Sql,
  r: { id: number; failCount: number; sendAfter: Date; error: string },
): Promise<void> {
  await sql.query(
    `update notification_outbox
        set fail_count = $2, send_after = $3, last_error = $4, updated_at = now()
      where id = $1 and status = 'PENDING'`,
    [r.id, r.failCount, r.sendAfter, r.error],
  );
}

/**
 * Marks a row FAILED and, in the same transaction, tells the operator once: a blocked bot
 * deactivates the chat (WARN to the other chats), any other final failure raises a CRITICAL
 * alert collapsed per chat and hour. An alert about an alert is never raised.
 */
export async function markFailed(
  sql: Sql,
  row: Pick<ClaimedRow, "id" | "chat_id" | "kind" | "chat_label">,
  f: { failCount: number; error: string; deactivateChat: boolean; alert: boolean; now: Date },
): Promise<void> {
  const [updated] = await sql.query<{ id: number }>(
    `update notification_outbox
        set status = 'FAILED', fail_count = $2, last_error = $3, updated_at = now()
      where id = $1 and status = 'PENDING' returning id`,
    [row.id, f.failCount, f.error],
  );
  if (!updated) return;
  const chat = row.chat_label ? `${row.chat_id} (${row.chat_label})` : String(row.chat_id);
  if (f.deactivateChat) {
    const reason = f.error.slice(0, 500);
    const [deactivated] = await sql.query<{ chat_id: number }>(
      `update telegram_chats set active = false, deactivated_reason = $2, updated_at = now()
        where chat_id = $1 and active returning chat_id`,
      [row.chat_id, reason],
    );
    await sql.query(
      `update notification_outbox
          set status = 'FAILED', last_error = $2, updated_at = now()
        where chat_id = $1 and status = 'PENDING'`,
      [row.chat_id, `Chat ${row.chat_id} was deactivated: ${reason}`],
    );
    if (deactivated && f.alert && !ALERT_KINDS.has(row.kind)) {
      await enqueueNotification(sql, {
        severity: "WARN",
        kind: NotificationKind.chatDeactivated,
        text: `Chat ${chat} no longer receives notifications: ${f.error}. ` +
          `After fixing it (unblock the bot, add it to the group), run: ` +
          `pg-solo-lite chats add ${row.chat_id}`,
        dedupeKey: `chat_deactivated:${row.chat_id}:${row.id}`,
      });
    }
    return;
  }
  if (f.alert && !ALERT_KINDS.has(row.kind)) {
    await enqueueNotification(sql, {
      severity: "CRITICAL",
      kind: NotificationKind.outboxFailed,
      text: `Notification #${row.id} (${row.kind}) to chat ${chat} was not delivered after ` +
        `${f.failCount} attempt(s): ${f.error}. Later failures to this chat within the hour ` +
        `are not announced again. See: pg-solo-lite outbox status; resend with: ` +
        `pg-solo-lite outbox retry --failed`,
      dedupeKey: collapseKey(`outbox_failed:${row.chat_id}`, "", f.now),
    });
  }
}
