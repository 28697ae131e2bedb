/**
 * Telegram's service messages about a group's upgrade to a supergroup (migrate_to_chat_id in the
 * old group, migrate_from_chat_id in the new one), received by the running bot through grammY's
 * long polling from the fake Bot API: the chat moves to its new id before any notification to
 * the old one is refused.
 */
import assert from "node:assert/strict";
import { telegramControlComponent } from "../../../control/component.ts";
import { addChat } from "../../../notify/chats.ts";
import { notifyComponent } from "../../../notify/component.ts";
import { enqueueNotification } from "../../../notify/enqueue.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { ADMIN, withBot } from "./telegram_helpers.ts";

const OLD = -4010;
const NEW = -1000000004010;

Deno.test({
  name: "the bot follows a group upgraded to a supergroup before a notification is refused",
  ...serviceTest,
  fn: () =>
    withBot(async ({ db, tg, say }) => {
      await addChat(db, { chatId: OLD, minSeverity: "WARN", label: "ops" });
      const [before] = await db.query<{ n: number }>(
        "select count(*)::int as n from telegram_chats",
      );
      // Both service messages arrive; the second finds the move done.
      tg.upgradeGroup({ fromChatId: OLD, toChatId: NEW, byUserId: ADMIN });
      // A group the service never knew: nothing to follow, nothing registered.
      tg.upgradeGroup({ fromChatId: -4011, toChatId: -1000000004011 });
      await say(ADMIN, ADMIN, "/help");

      const chats = await db.query<
        { chat_id: number; active: boolean; label: string; min_severity: string; to: number }
      >(
        `select chat_id, active, label, min_severity, migrated_to_chat_id as to
           from telegram_chats where chat_id in ($1, $2) order by chat_id`,
        [NEW, OLD],
      );
      assert.deepEqual(chats.map((c) => [c.chat_id, c.active, c.label, c.min_severity]), [
        [NEW, true, "ops", "WARN"],
        [OLD, false, "ops", "WARN"],
      ]);
      assert.equal(Number(chats[1].to), NEW);
      const [after] = await db.query<{ n: number }>(
        "select count(*)::int as n from telegram_chats",
      );
      assert.equal(after.n, before.n + 1, "only the new id of the known group is registered");

      assert.equal(
        await enqueueNotification(db, {
          severity: "CRITICAL",
          kind: "order_placed",
          text: "after the upgrade",
          dedupeKey: "after",
        }),
        1,
      );
      const toNew = () => tg.messages.filter((m) => m.chatId === NEW);
      await tg.waitFor(() => toNew().length === 2);
      const texts = toNew().map((m) => m.text);
      assert.equal(texts.filter((t) => /was upgraded to a supergroup/.test(t)).length, 1);
      assert.equal(texts.filter((t) => /after the upgrade/.test(t)).length, 1);
      assert.equal(tg.requests, tg.messages.length, "nothing was refused at the old id");
    }, { factories: [notifyComponent, telegramControlComponent()] }),
});
