/**
 * Operator chats (telegram_chats): registered with `chats add`, deactivated on a 403, followed to
 * their new id when Telegram upgrades a group to a supergroup (chat_migration.ts).
 */
import { RuntimeError } from "../core/errors.ts";
import type { Sql } from "../db/mod.ts";
import type { Severity } from "./enqueue.ts";

export interface Chat {
  chat_id: number;
  label: string | null;
  min_severity: Severity;
  active: boolean;
  deactivated_reason: string | null;
  /** The account whose messages alone it hears; null: an operator chat, which hears all. */
  account: string | null;
  /** The chat's new id after Telegram upgraded this group to a supergroup; null otherwise. */
  migrated_to_chat_id: number | null;
  pending: number;
  created_at: Date;
}

/**
 * Adds a chat, or updates and reactivates it when it exists. Returns whether it was new.
 * `accountId` ties the chat to one account (it hears only that account's messages); null
 * makes it an operator chat again; undefined leaves an existing chat's tie as it is.
 *
 * A chat tied to an account it was not tied to is sent nothing queued for it before (`held`,
 * marked FAILED): those messages were chosen for what the chat was, an operator chat or another
 * account's, and the outbox does not know whose each one is.
 */
export async function addChat(
  sql: Sql,
  c: { chatId: number; minSeverity?: Severity; label?: string; accountId?: number | null },
): Promise<{ created: boolean; held: number; chat: Chat }> {
  const [row] = await sql.query<{ created: boolean; held: number }>(
    `with old as (select account_id from telegram_chats where chat_id = $1),
     up as (
       insert into telegram_chats (chat_id, min_severity, label, account_id)
       values ($1, coalesce($2, 'INFO'), $3, $5::bigint)
       on conflict (chat_id) do update
          set min_severity = coalesce($2, telegram_chats.min_severity),
              label = coalesce($3, telegram_chats.label),
              account_id = case when $4 then $5::bigint else telegram_chats.account_id end,
              active = true, deactivated_reason = null, updated_at = now()
        where telegram_chats.migrated_to_chat_id is null
       returning (xmax = 0) as created, account_id),
     held as (
       update notification_outbox o
          set status = 'FAILED', updated_at = now(),
              last_error = format('Not sent: the chat was tied to account %s after it was ' ||
                'queued, and it may be of another account', a.name)
         from up join accounts a on a.id = up.account_id
        where o.chat_id = $1 and o.status = 'PENDING'
          and up.account_id is distinct from (select account_id from old)
       returning o.id)
     select up.created, (select count(*)::int from held) as held from up`,
    [
      c.chatId,
      c.minSeverity ?? null,
      c.label ?? null,
      c.accountId !== undefined,
      c.accountId ?? null,
    ],
  );
  const chat = (await listChats(sql)).find((x) => x.chat_id === c.chatId)!;
  if (!row) throw migratedError(chat, "add");
  return { created: row.created, held: row.held, chat };
}

export function listChats(sql: Sql): Promise<Chat[]> {
  return sql.query<Chat>(
    `select c.chat_id, c.label, c.min_severity, c.active, c.deactivated_reason, c.created_at,
            a.name as account, c.migrated_to_chat_id,
            (select count(*) from notification_outbox o
              where o.chat_id = c.chat_id and o.status = 'PENDING')::int as pending
       from telegram_chats c left join accounts a on a.id = c.account_id
      order by c.chat_id`,
  );
}

/**
 * The account chat `chatId` is tied to, or undefined for an operator chat and for a chat never
 * registered. A chat removed with `chats remove` keeps its tie: it is still that account's chat.
 */
export async function chatAccount(
  sql: Sql,
  chatId: number,
): Promise<{ id: number; name: string } | undefined> {
  const [row] = await sql.query<{ id: string | number; name: string }>(
    `select a.id, a.name from telegram_chats c join accounts a on a.id = c.account_id
      where c.chat_id = $1`,
    [chatId],
  );
  return row ? { id: Number(row.id), name: row.name } : undefined;
}

/**
 * Removes a chat: it is deactivated (its outbox history keeps pointing at it) and its queued
 * messages are marked FAILED so that they are not sent. `chats add` brings it back.
 */
export async function removeChat(sql: Sql, chatId: number): Promise<{ dropped: number }> {
  const [chat] = await sql.query<{ chat_id: number }>(
    `update telegram_chats set active = false, deactivated_reason = 'removed by the operator',
            updated_at = now()
      where chat_id = $1 and migrated_to_chat_id is null returning chat_id`,
    [chatId],
  );
  if (!chat) {
    const gone = (await listChats(sql)).find((x) => x.chat_id === chatId);
    if (gone) throw migratedError(gone, "remove");
    throw new RuntimeError(
      `Chat ${chatId} is not registered; see the registered chats with: pg-solo-lite chats list`,
    );
  }
  const dropped = await sql.query(
    `update notification_outbox set status = 'FAILED', last_error = 'Chat removed by the operator',
            updated_at = now()
      where chat_id = $1 and status = 'PENDING' returning id`,
    [chatId],
  );
  return { dropped: dropped.length };
}

/** The old id of a group upgraded to a supergroup is dead: the command is for the new one. */
function migratedError(chat: Chat, verb: "add" | "remove"): RuntimeError {
  const to = chat.migrated_to_chat_id;
  return new RuntimeError(
    `Chat ${chat.chat_id} was upgraded to a supergroup by Telegram and is now chat ${to}; ` +
      `use the new id: pg-solo-lite chats ${verb} ${to}`,
  );
}
