/**
 * A webhook on the bot, or a second poller of its token: Telegram answers getUpdates with 409.
 * The service reports it once, clearly, through the outbox, keeps serving, and receives
 * commands again once the conflict is gone.
 */
import assert from "node:assert/strict";
import { telegramControlComponent } from "../../../control/component.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { ADMIN, withBot } from "./telegram_helpers.ts";

async function outboxOf(db: Db, kind: string) {
  return await db.query<{ severity: string; text: string }>(
    "select severity, text from notification_outbox where kind = $1 order by id",
    [kind],
  );
}

/** Polls until `kind` has `n` outbox rows; a generous bound, not a timing check. */
async function waitForRows(db: Db, kind: string, n: number) {
  for (let i = 0; i < 600 && (await outboxOf(db, kind)).length < n; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return await outboxOf(db, kind);
}

Deno.test({
  name: "a webhook or a second poller is one clear CRITICAL; polling retries and recovers",
  ...serviceTest,
  fn: async () => {
    await withBot(async ({ db, tg, service }) => {
      await db.query("insert into telegram_chats (chat_id, min_severity) values (42, 'INFO')");
      tg.conflict("webhook");
      // The conflict starts on the poll after the one waiting now (it ends by the 409 below).
      tg.sendUpdate({ fromId: ADMIN, chatId: 7, text: "/help" });
      const [critical] = await waitForRows(db, "telegram_poll_conflict", 1);
      assert.equal(critical.severity, "CRITICAL");
      assert.match(critical.text, /Telegram commands are not received: a webhook is set/);
      assert.match(critical.text, /deleteWebhook/);
      // Retried with backoff: more refused polls, still one notification.
      const calls = tg.getUpdatesCalls;
      for (let i = 0; i < 400 && tg.getUpdatesCalls < calls + 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(tg.getUpdatesCalls >= calls + 2, "polling goes on");
      assert.equal((await outboxOf(db, "telegram_poll_conflict")).length, 1);
      // The service keeps serving.
      const health = await fetch(`${service.url}/healthz`);
      await health.body?.cancel();
      assert.equal(health.status, 200);

      tg.conflict(undefined);
      const [{ text: recovered }] = await waitForRows(db, "telegram_poll_recovered", 1);
      assert.match(recovered, /received again/);
      await tg.waitFor(() => tg.messages.some((m) => m.chatId === 7 && /Commands/.test(m.text)));

      // A second poller on the same token: its getUpdates ends our waiting one with 409.
      for (let i = 0; i < 400 && !tg.pollerWaiting; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(tg.pollerWaiting, "the service is long-polling");
      const other = await fetch(`${tg.apiRoot}/bot${tg.token}/getUpdates`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ timeout: 0 }),
      }).then((r) => r.json());
      assert.equal(other.ok, true, "the other poller is served");
      const rows = await waitForRows(db, "telegram_poll_conflict", 2);
      assert.equal(rows[1].severity, "CRITICAL");
      assert.match(rows[1].text, /another program is polling this bot's updates/);
      // The other poller is gone: commands are received again.
      tg.sendUpdate({ fromId: ADMIN, chatId: 8, text: "/help" });
      await tg.waitFor(() => tg.messages.some((m) => m.chatId === 8));
    }, { factories: [telegramControlComponent()] });
  },
});
