/**
 * Two workers with their own connection pools (as two processes would have) on one server
 * database never send the same row. PGlite is one session and cannot show real concurrency,
 * so this file needs TEST_DATABASE_URL.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import { openServerDb } from "../../../db/server.ts";
import { enqueueNotification } from "../../../notify/enqueue.ts";
import { telegramSender } from "../../../notify/telegram.ts";
import { outboxWorker } from "../../../notify/worker.ts";
import { startFakeTelegram } from "../../fakes/telegram.ts";
import { serverUrl, testDb } from "../../helpers/db.ts";
import { addChat, outboxRows } from "../../helpers/outbox.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  name: serverUrl()
    ? "two workers on one server database never send the same row"
    : "two workers on one server database never send the same row (skipped: set TEST_DATABASE_URL)",
  ignore: !serverUrl(),
  ...serviceTest,
  fn: async () => {
    const t = await testDb();
    const tg = await startFakeTelegram();
    const a = await openServerDb({ url: t.url!, poolSize: 4 });
    const b = await openServerDb({ url: t.url!, poolSize: 4 });
    try {
      const chats = [101, 102, 103, 104, 105, 106];
      for (const c of chats) await addChat(t.db, c);
      const events = 100;
      await t.db.transaction(async (tx) => {
        for (let i = 0; i < events; i++) {
          await enqueueNotification(tx, {
            severity: "INFO",
            kind: "order_placed",
            text: `event ${i}`,
            dedupeKey: `e${i}`,
          });
        }
      });
      const sender = telegramSender({ token: tg.token, apiUrl: tg.apiRoot });
      const make = (db: typeof a) =>
        outboxWorker({
          db,
          sender,
          clock: systemClock,
          log: logger("test"),
          perChatPerS: 0,
          globalPerS: 0,
          batchSize: 15,
          concurrency: 3,
        });
      const [wa, wb] = [make(a), make(b)];
      const totals = await Promise.all([wa.drain(), wb.drain(), wa.drain(), wb.drain()]);
      const rows = chats.length * events;
      assert.equal(totals.reduce((n, r) => n + r.sent, 0), rows);
      assert.ok(totals[0].sent + totals[2].sent > 0 && totals[1].sent + totals[3].sent > 0);
      assert.equal(tg.messages.length, rows);
      const seen = new Set(tg.messages.map((m) => `${m.chatId}|${m.text}`));
      assert.equal(seen.size, rows, "a row was sent twice");
      assert.ok((await outboxRows(t.db)).every((r) => r.status === "SENT"));
    } finally {
      await a.close();
      await b.close();
      await tg.close();
      await t.close();
    }
  },
});
