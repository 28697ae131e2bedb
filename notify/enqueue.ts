/**
 * Queues a Telegram notification for every chat whose min_severity allows it and that hears
 * its account (migration 0016). Call it
 * with the transaction of the event it reports, so that the event and its notification are
 * committed together or not at all. The text is masked here (secrets by value and pattern), so
 * an error message quoted by a caller never carries a secret into the outbox or a chat.
 */
import type { Sql } from "../db/mod.ts";
import { redactText } from "../core/redact.ts";
import type { NotificationKind } from "./kinds.ts";

export type Severity = "INFO" | "WARN" | "CRITICAL";

/** Returns the number of chat rows written (0 when deduped or no chat wants it). */
export async function enqueueNotification(
  sql: Sql,
  n: {
    severity: Severity;
    kind: NotificationKind;
    text: string;
    dedupeKey: string;
    /**
     * The account the event is about: it reaches that account's chats as well as the
     * operator's. Without one, only the operator's chats (those tied to no account) hear it.
     */
    accountId?: number;
  },
): Promise<number> {
  const [row] = await sql.query<{ n: number }>(
    "select enqueue_notification($1, $2, $3, $4, $5::bigint) as n",
    [n.severity, n.kind, redactText(n.text), n.dedupeKey, n.accountId ?? null],
  );
  return row?.n ?? 0;
}
