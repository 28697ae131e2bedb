/**
 * A chat tied to an account is sent only that account's messages, checked again when the outbox
 * worker sends (migration 0033): a message queued while the chat heard everything, or put back
 * by `outbox retry`, never reaches it once it is tied to another account. Through the worker and
 * grammY against the fake Bot API; PostgreSQL with TEST_DATABASE_URL, PGlite otherwise.
 */
import assert from "node:assert/strict";
import { fakeClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import { addChat } from "../../../notify/chats.ts";
import { enqueueNotification } from "../../../notify/enqueue.ts";
import { retryFailed, retryOne } from "../../../notify/outbox_admin.ts";
import { telegramSender } from "../../../notify/telegram.ts";
import { outboxWorker } from "../../../notify/worker.ts";
import { startFakeTelegram } from "../../fakes/telegram.ts";
import { testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { outboxRows, resetOutbox } from "../../helpers/outbox.ts";

const t = await testDb();
const { db } = t;
const tg = await startFakeTelegram();
const log = logger("test");
const sender = telegramSender({ token: tg.token, apiUrl: tg.apiRoot, timeoutSeconds: 2 });

/** A worker on a fake clock an hour ahead of the database, so every enqueued row is due. */
const worker = () =>
  outboxWorker({
    db,
    sender,
    clock: fakeClock(new Date(Date.now() + 3_600_000)),
    log,
    perChatPerS: 0,
    globalPerS: 0,
  });

async function account(name: string): Promise<number> {
  await db.query(
    `insert into accounts (name, exchange_id, mode) values ($1, 'binance', 'paper')
     on conflict do nothing`,
    [name],
  );
  return Number(
    (await db.query<{ id: string }>("select id::text from accounts where name = $1", [name]))[0]
      .id,
  );
}

const enqueue = (text: string, accountId?: number) =>
  enqueueNotification(db, {
    severity: "INFO",
    kind: "order_filled",
    text,
    dedupeKey: text,
    accountId,
  });

/** The texts delivered to a chat, without the header line. */
const textsTo = (chatId: number) =>
  tg.messages.filter((m) => m.chatId === chatId).map((m) => m.text.split("\n").slice(1).join("\n"));

Deno.test({
  name: "a chat tied to an account is never sent another account's message from the outbox",
  ...serviceTest,
  fn: async (ctx) => {
    try {
      const alice = await account("alice");
      const bob = await account("bob");
      await ctx.step(
        "one queued while the chat heard everything, then put back by retry",
        async () => {
          await resetOutbox(db);
          tg.messages.length = 0;
          await addChat(db, { chatId: -900, label: "ops" });
          await enqueue("fill of alice", alice);
          await enqueue("fill of bob", bob);
          await enqueue("service started");
          // The chat turns out to be bob's; the operator then retries what failed.
          await addChat(db, { chatId: -900, accountId: bob });
          assert.equal((await retryFailed(db)).requeued, 3);
          await worker().drain();
          assert.deepEqual(textsTo(-900), ["fill of bob"]);
          const rows = await outboxRows(db);
          const held = rows.filter((r) => r.status === "FAILED");
          assert.deepEqual(held.map((r) => r.text).sort(), ["fill of alice", "service started"]);
          for (const r of held) {
            assert.match(
              r.last_error!,
              /^Not sent: chat -900 is tied to account id \d+ \(see pg-solo-lite chats list\) and this message is of another account or of the service, queued before the tie$/,
            );
          }
          assert.ok(
            !rows.some((r) => r.kind === "outbox_failed"),
            "a message held back raises no failure alert",
          );
          // One retried by id is held back again.
          await retryOne(db, held[0].id);
          await worker().drain();
          assert.deepEqual(textsTo(-900), ["fill of bob"]);
          assert.equal((await outboxRows(db)).find((r) => r.id === held[0].id)?.status, "FAILED");
        },
      );
      await ctx.step("an operator chat and the account's own chat are sent as before", async () => {
        await resetOutbox(db);
        tg.messages.length = 0;
        await addChat(db, { chatId: -901, label: "ops" });
        await addChat(db, { chatId: -902, accountId: alice });
        await enqueue("fill of alice 2", alice);
        await enqueue("service stopping");
        const r = await worker().drain();
        assert.equal(r.failed, 0);
        assert.deepEqual(textsTo(-901), ["fill of alice 2", "service stopping"]);
        assert.deepEqual(textsTo(-902), ["fill of alice 2"]);
      });
    } finally {
      await tg.close();
      await t.close();
    }
  },
});
