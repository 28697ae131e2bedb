/**
 * One chat's backlog never keeps another chat's messages out of the outbox worker's batch: each
 * chat's oldest due rows are its candidates, capped per chat, so the operator's CRITICAL goes
 * out in the next batch however many INFO rows another chat has waiting (an account chat after
 * a Telegram outage, say). Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on
 * PGlite otherwise.
 */
import assert from "node:assert/strict";
import { fakeClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import { enqueueNotification } from "../../../notify/enqueue.ts";
import { outboxWorker } from "../../../notify/worker.ts";
import { testDb } from "../../helpers/db.ts";
import { addChat, resetOutbox } from "../../helpers/outbox.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name: "a backlog of 2,500 rows in one chat does not hold back another chat's CRITICAL",
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    await resetOutbox(db);
    await addChat(db, 1, "INFO");
    await addChat(db, 2, "CRITICAL");
    await db.query(
      `insert into notification_outbox (chat_id, severity, kind, text, dedupe_key)
       select 1, 'INFO', 'order_placed', 'fill ' || g, 'k' || g from generate_series(1, 2500) g`,
    );
    await enqueueNotification(db, {
      severity: "CRITICAL",
      kind: "order_placed" as never,
      text: "protection tripped",
      dedupeKey: "crit",
    });
    const sentTo: number[] = [];
    const worker = outboxWorker({
      db,
      sender: (chatId) => {
        sentTo.push(chatId);
        return Promise.resolve(sentTo.length);
      },
      clock: fakeClock(new Date(Date.now() + 3_600_000)),
      log: logger("test"),
      perChatPerS: 1, // the default: at most 10 rows per chat in a batch
      globalPerS: 0,
    });
    const r = await worker.runOnce();
    assert.equal(r.claimed, 11, "10 of the busy chat (its cap) and the operator's one");
    assert.deepEqual([...new Set(sentTo)].sort(), [1, 2]);
    assert.equal(sentTo.filter((c) => c === 2).length, 1);
    // The busy chat's rows go in their order: the oldest ten first.
    const sent = await db.query<{ text: string }>(
      "select text from notification_outbox where chat_id = 1 and status = 'SENT' order by id",
    );
    assert.deepEqual(
      sent.map((s) => s.text),
      Array.from({ length: 10 }, (_, i) => `fill ${i + 1}`),
    );
  },
});
