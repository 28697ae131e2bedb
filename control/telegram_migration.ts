/**
 * Telegram's service messages about a group's upgrade to a supergroup: the bot gets
 * `migrate_to_chat_id` in the old group and `migrate_from_chat_id` in the new one. Either moves
 * the chat's registration to the new id at once, before a notification to the old id is refused
 * (notify/chat_migration.ts); the second finds the move done. Telegram writes these messages, not
 * a user, so they need no admin.
 */
import type { Bot } from "grammy";
import { errorMessage } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import { redactText } from "../core/redact.ts";
import type { Db } from "../db/mod.ts";
import { followChatMigration } from "../notify/mod.ts";

export function registerChatMigration(bot: Bot, deps: { db: Db; log: Log }): void {
  const { db, log } = deps;
  const follow = async (fromChatId: number, toChatId: number) => {
    try {
      const m = await db.transaction((tx) => followChatMigration(tx, { fromChatId, toChatId }));
      const fields = { from: fromChatId, to: m.toChatId, outcome: m.outcome };
      if (m.outcome === "moved" || m.outcome === "merged") {
        log.warn(
          "Chat {from} was upgraded to a supergroup and is now chat {to} ({outcome})",
          fields,
        );
      } else {
        log.info("Group {from} became supergroup {to}: nothing to move ({outcome})", fields);
      }
    } catch (error) {
      // The next notification to the old id is refused with the new one, and moves it then.
      log.error("Cannot follow group {from} to its supergroup {to}: {error}", {
        from: fromChatId,
        to: toChatId,
        error: redactText(errorMessage(error)),
      });
    }
  };
  bot.on(
    "message:migrate_to_chat_id",
    (ctx) => follow(ctx.chat.id, ctx.message.migrate_to_chat_id),
  );
  bot.on(
    "message:migrate_from_chat_id",
    (ctx) => follow(ctx.message.migrate_from_chat_id, ctx.chat.id),
  );
}
