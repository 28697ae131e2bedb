/**
 * Following a group that Telegram upgraded to a supergroup: the chat's registration, its account
 * tie and its outbox rows move to the new chat id (migrate_telegram_chat, migration 0029), and the
 * operator is told once. The outbox worker calls it when a send is answered with the new id, the
 * control bot when Telegram's service message about the upgrade arrives; whichever comes second
 * finds the move done and changes nothing.
 */
import { errorMessage, TemporaryError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import { redactText } from "../core/redact.ts";
import { type Db, type Sql, sqlState } from "../db/mod.ts";
import { enqueueNotification, type Severity } from "./enqueue.ts";
import { NotificationKind } from "./kinds.ts";
import { resendNow } from "./outbox.ts";

export interface ChatMigration {
  /**
   * moved: the new id took the old chat's settings; merged: the new id was registered already
   * and kept its own; already: the move was done before; unknown: the old id is not a chat here.
   */
  outcome: "moved" | "merged" | "already" | "unknown";
  fromChatId: number;
  /** Where the chat is now (for "unknown", the id given). */
  toChatId: number;
  /** Queued messages that now go to the new id, and those marked FAILED instead (merged). */
  queued: number;
  dropped: number;
}

interface Moved {
  outcome: ChatMigration["outcome"];
  to_chat_id?: number;
  from_label?: string | null;
  label?: string | null;
  min_severity?: Severity;
  account_id?: number | null;
  account?: string | null;
  active?: boolean;
  deactivated_reason?: string | null;
  queued?: number;
  dropped?: number;
}

/**
 * Moves chat `fromChatId` to `toChatId` and queues the WARN that says so, together: call it in a
 * transaction. Telegram's ids only: a basic group (-1 to -999999999999) to a supergroup
 * (below -1000000000000); anything else is refused by the database (check_violation).
 */
export async function followChatMigration(
  sql: Sql,
  m: { fromChatId: number; toChatId: number },
): Promise<ChatMigration> {
  const [row] = await sql.query<{ r: Moved }>(
    "select migrate_telegram_chat($1::bigint, $2::bigint) as r",
    [m.fromChatId, m.toChatId],
  );
  const r = row.r;
  const result: ChatMigration = {
    outcome: r.outcome,
    fromChatId: m.fromChatId,
    toChatId: Number(r.to_chat_id ?? m.toChatId),
    queued: r.queued ?? 0,
    dropped: r.dropped ?? 0,
  };
  if (r.outcome !== "moved" && r.outcome !== "merged") return result;
  // The old row keeps its tie: a merge into an id tied otherwise is the same group under two
  // settings, and the operator must hear which one now holds (an operator chat hears and
  // controls every account).
  const [old] = r.outcome === "merged"
    ? await sql.query<{ account_id: string | null }>(
      "select account_id::text from telegram_chats where chat_id = $1",
      [m.fromChatId],
    )
    : [];
  const oldAccountId = old?.account_id == null ? null : Number(old.account_id);
  await enqueueNotification(sql, {
    severity: "WARN",
    kind: NotificationKind.chatMigrated,
    text: noticeText(result, r) + tieChangeText(result, r, oldAccountId),
    // Once per chat, whichever way the upgrade was seen first.
    dedupeKey: `chat_migrated:${m.fromChatId}:${result.toChatId}`,
    // A chat moved hears it at its new id, as do the operator's chats. A merge is told to the
    // operator's chats only: the new id may be another account's chat, which must learn
    // nothing of the old one (its label, its messages).
    accountId: r.outcome === "moved" ? r.account_id ?? undefined : undefined,
  });
  return result;
}

/**
 * For the outbox worker, after Telegram refused row `rowId` at the old id and named the new one:
 * the chat is followed and the row is due again at once, now for the new id (sent once, since
 * the old id refused it). Returns the error to count when the move cannot be made.
 */
export async function followAfterSend(
  db: Db,
  log: Log,
  r: { rowId: number; fromChatId: number; toChatId: number; now: Date },
): Promise<Error | undefined> {
  try {
    const { m, resent } = await db.transaction(async (tx) => {
      const m = await followChatMigration(tx, r);
      return { m, resent: await resendNow(tx, r.rowId, r.now) };
    });
    log.warn(
      "Chat {from} was upgraded to a supergroup and is now chat {to} ({outcome}); " +
        "notification {id} {what}",
      {
        from: r.fromChatId,
        to: m.toChatId,
        outcome: m.outcome,
        id: r.rowId,
        what: resent ? "is sent there" : "is not sent: no longer queued",
      },
    );
    return undefined;
  } catch (error) {
    const hint = sqlState(error) === "42501"
      ? " (the notifier role lacks the right: run db/roles.sql again)"
      : "";
    return new TemporaryError(
      `Telegram says chat ${r.fromChatId} is now chat ${r.toChatId} (upgraded to a ` +
        `supergroup), but following it failed: ${redactText(errorMessage(error))}${hint}`,
    );
  }
}

/** In a merge, what the group's tie was and now is, when they differ. */
function tieChangeText(m: ChatMigration, r: Moved, oldAccountId: number | null): string {
  const newAccountId = r.account_id == null ? null : Number(r.account_id);
  if (m.outcome !== "merged" || oldAccountId === newAccountId || oldAccountId === null) return "";
  const now = newAccountId === null
    ? "an operator chat: it hears every account, and the admins' commands there show and " +
      "change every account"
    : `tied to account ${r.account}`;
  return ` Careful: the old chat was tied to account id ${oldAccountId}; the group is now ` +
    `${now}. If it is that account's group, run: pg-solo-lite chats add ${m.toChatId} ` +
    "--account NAME";
}

function noticeText(m: ChatMigration, r: Moved): string {
  const from = r.from_label ? `${m.fromChatId} (${r.from_label})` : String(m.fromChatId);
  const to = m.toChatId;
  const upgraded =
    `Chat ${from} was upgraded to a supergroup by Telegram and now has the id ${to}.`;
  const inactive = r.active ? "" : `; deactivated: ${r.deactivated_reason ?? "unknown reason"}`;
  if (m.outcome === "moved") {
    if (!r.active) {
      return `${upgraded} It stays deactivated (${r.deactivated_reason ?? "unknown reason"}); ` +
        `to hear from it again, run: pg-solo-lite chats add ${to}`;
    }
    return `${upgraded} Its notifications go there, with the same settings` +
      `${m.queued > 0 ? ` (${m.queued} queued message(s) included)` : ""}. ` +
      `Use the new id with pg-solo-lite chats from now on.`;
  }
  const settings = `receives ${r.min_severity} and above` +
    `${r.account ? ` of account ${r.account} only` : ""}${inactive}`;
  const queued = m.queued > 0 ? ` ${m.queued} queued message(s) of the old id go there.` : "";
  const dropped = m.dropped > 0
    ? ` ${m.dropped} queued message(s) of the old id were dropped: the new chat has them ` +
      `already or would not have received them.`
    : "";
  return `${upgraded} That id was registered already and keeps its own settings (${settings}).` +
    `${queued}${dropped} See: pg-solo-lite chats list`;
}
