/** Small helpers for outbox tests: operator chats and a look at the outbox rows. */
import type { Db } from "../../db/db.ts";

export async function addChat(
  db: Db,
  chatId: number,
  minSeverity: "INFO" | "WARN" | "CRITICAL" = "INFO",
  label?: string,
): Promise<void> {
  await db.query(
    "insert into telegram_chats (chat_id, min_severity, label) values ($1, $2, $3)",
    [chatId, minSeverity, label ?? null],
  );
}

/** Empties the outbox and the chats (tests in one file share a database). */
export async function resetOutbox(db: Db): Promise<void> {
  await db.exec("delete from notification_outbox; delete from telegram_chats;");
}

export interface OutboxRow {
  id: number;
  chat_id: number;
  severity: string;
  kind: string;
  text: string;
  dedupe_key: string;
  status: string;
  fail_count: number;
  send_after: Date;
  last_error: string | null;
  telegram_message_id: number | null;
}

export function outboxRows(db: Db): Promise<OutboxRow[]> {
  return db.query<OutboxRow>(
    `select id, chat_id, severity, kind, text, dedupe_key, status, fail_count, send_after,
            last_error, telegram_message_id
       from notification_outbox order by id`,
  );
}
