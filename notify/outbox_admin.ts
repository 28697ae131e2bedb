/** What `outbox status` shows and what `outbox retry` changes. */
import { RuntimeError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Sql } from "../db/mod.ts";

export interface OutboxStatus {
  counts: { PENDING: number; SENT: number; FAILED: number };
  /** PENDING rows already due (the rest wait for a retry or a 429). */
  due: number;
  oldestPending: { id: number; created_at: Date; chat_id: number; kind: string } | null;
  recentFailures: {
    id: number;
    chat_id: number;
    kind: string;
    status: string;
    fail_count: number;
    last_error: string | null;
    updated_at: Date;
  }[];
}

export async function outboxStatus(sql: Sql, now: Date): Promise<OutboxStatus> {
  const counts = { PENDING: 0, SENT: 0, FAILED: 0 };
  const rows = await sql.query<{ status: keyof typeof counts; n: number }>(
    "select status, count(*)::int as n from notification_outbox group by status",
  );
  for (const r of rows) counts[r.status] = r.n;
  const [due] = await sql.query<{ n: number }>(
    "select count(*)::int as n from notification_outbox where status = 'PENDING' and send_after <= $1",
    [now],
  );
  const [oldest] = await sql.query<OutboxStatus["oldestPending"] & object>(
    `select id, created_at, chat_id, kind from notification_outbox
      where status = 'PENDING' order by created_at, id limit 1`,
  );
  // FAILED rows and PENDING rows that are retrying: what an operator wants to look at.
  const recentFailures = await sql.query<OutboxStatus["recentFailures"][number]>(
    `select id, chat_id, kind, status, fail_count, last_error, updated_at
       from notification_outbox
      where status = 'FAILED' or (status = 'PENDING' and fail_count > 0)
      order by updated_at desc, id desc limit $1`,
    [limits.outboxRecentFailuresShown],
  );
  return { counts, due: due.n, oldestPending: oldest ?? null, recentFailures };
}

/** Puts one row back in the queue (FAILED, or PENDING waiting for a retry). */
export async function retryOne(sql: Sql, id: number): Promise<void> {
  const [row] = await sql.query<{ status: string; active: boolean }>(
    `select o.status, c.active from notification_outbox o
       join telegram_chats c on c.chat_id = o.chat_id where o.id = $1`,
    [id],
  );
  if (!row) {
    throw new RuntimeError(`Notification ${id} does not exist; see: pg-solo-lite outbox status`);
  }
  if (row.status === "SENT") {
    throw new RuntimeError(`Notification ${id} was already sent; nothing to retry`);
  }
  if (!row.active) {
    throw new RuntimeError(
      `Notification ${id} is for a deactivated chat; reactivate it first with: pg-solo-lite chats add <chat_id>`,
    );
  }
  await sql.query(
    `update notification_outbox set status = 'PENDING', fail_count = 0, send_after = now(),
            updated_at = now()
      where id = $1`,
    [id],
  );
  await sql.query("select pg_notify('outbox', '')");
}

/** Puts every FAILED row of an active chat back in the queue. */
export async function retryFailed(sql: Sql): Promise<{ requeued: number; skipped: number }> {
  const requeued = await sql.query(
    `update notification_outbox o set status = 'PENDING', fail_count = 0, send_after = now(),
            updated_at = now()
       from telegram_chats c
      where c.chat_id = o.chat_id and c.active and o.status = 'FAILED'
      returning o.id`,
  );
  const [skipped] = await sql.query<{ n: number }>(
    "select count(*)::int as n from notification_outbox where status = 'FAILED'",
  );
  if (requeued.length > 0) await sql.query("select pg_notify('outbox', '')");
  return { requeued: requeued.length, skipped: skipped.n };
}
