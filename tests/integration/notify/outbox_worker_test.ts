/**
 * The outbox worker end to end: enqueue_notification → claim → grammY → the fake Bot API →
 * SENT, with an injected clock for the retry schedule. Runs on the real PostgreSQL when
 * TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { fakeClock, systemClock } from "../../../core/clock.ts";
import { limits } from "../../../core/limits.ts";
import { logger } from "../../../core/log.ts";
import type { Db, Sql } from "../../../db/db.ts";
import { enqueueNotification, type Severity } from "../../../notify/enqueue.ts";
import { telegramSender } from "../../../notify/telegram.ts";
import { outboxWorker, type OutboxWorkerOptions } from "../../../notify/worker.ts";
import { startFakeTelegram } from "../../fakes/telegram.ts";
import { testDb } from "../../helpers/db.ts";
import { addChat, outboxRows, resetOutbox } from "../../helpers/outbox.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const t = await testDb();
const { db } = t;
const tg = await startFakeTelegram();
const log = logger("test");

/** A worker on a fake clock an hour ahead of the database, so every enqueued row is due. */
function setup(options: Partial<OutboxWorkerOptions> = {}) {
  const clock = fakeClock(new Date(Date.now() + 3_600_000));
  const worker = outboxWorker({
    db,
    sender: telegramSender({ token: tg.token, apiUrl: tg.apiRoot, timeoutSeconds: 2 }),
    clock,
    log,
    perChatPerS: 0,
    globalPerS: 0,
    ...options,
  });
  return { clock, worker };
}

async function fresh() {
  await resetOutbox(db);
  tg.messages.length = 0;
  tg.requests = 0;
  tg.clearFailures();
}

const enqueue = (severity: Severity, text: string, key = text, sql: Sql = db) =>
  enqueueNotification(sql, { severity, kind: "order_placed", text, dedupeKey: key });

const textsTo = (chatId: number) =>
  tg.messages.filter((m) => m.chatId === chatId).map((m) => m.text.split("\n").slice(1).join("\n"));

Deno.test({
  name: "outbox worker",
  ...serviceTest,
  fn: async (ctx) => {
    try {
      await ctx.step("each chat receives only the severities it asked for", async () => {
        await fresh();
        await addChat(db, 1, "INFO");
        await addChat(db, 2, "WARN");
        await addChat(db, 3, "CRITICAL");
        assert.equal(await enqueue("INFO", "info"), 1);
        assert.equal(await enqueue("WARN", "warn"), 2);
        assert.equal(await enqueue("CRITICAL", "critical"), 3);
        const { worker } = setup();
        const r = await worker.drain();
        assert.equal(r.sent, 6);
        assert.deepEqual(textsTo(1), ["info", "warn", "critical"]);
        assert.deepEqual(textsTo(2), ["warn", "critical"]);
        assert.deepEqual(textsTo(3), ["critical"]);
        const rows = await outboxRows(db);
        assert.ok(rows.every((r) => r.status === "SENT" && r.telegram_message_id! > 0));
        const critical = rows.find((r) => r.chat_id === 3)!;
        const delivered = tg.messages.find((m) => m.chatId === 3)!;
        assert.equal(critical.telegram_message_id, delivered.messageId);
      });

      await ctx.step("the same dedupe key is delivered once", async () => {
        await fresh();
        await addChat(db, 1);
        assert.equal(await enqueue("WARN", "db down", "err:db"), 1);
        assert.equal(await enqueue("WARN", "db down again", "err:db"), 0);
        const { worker } = setup();
        await worker.drain();
        assert.equal(await enqueue("WARN", "db down once more", "err:db"), 0);
        await worker.drain();
        assert.deepEqual(textsTo(1), ["db down"]);
      });

      await ctx.step("a long text with HTML characters is escaped and trimmed", async () => {
        await fresh();
        await addChat(db, 1);
        await enqueue("INFO", "<&>".repeat(5000), "long");
        await setup().worker.drain();
        assert.equal(tg.messages.length, 1);
        assert.match(tg.messages[0].text, /^<b>.*<\/b>\n&lt;&amp;&gt;/);
        assert.match(tg.messages[0].text, /trimmed \d+ characters\]$/);
        assert.equal((await outboxRows(db))[0].status, "SENT");
      });

      await ctx.step(
        "temporary failures retry after exactly 1, 2, 5 and 15 minutes, then FAILED with one CRITICAL alert",
        async () => {
          await fresh();
          await addChat(db, 10, "INFO", "ops");
          await addChat(db, 11, "CRITICAL");
          tg.fail({ kind: "server_error" }, { chatId: 10 });
          await enqueue("WARN", "first");
          await enqueue("WARN", "second");
          const { clock, worker } = setup();
          const waits: number[] = [];
          for (let attempt = 1; attempt <= 5; attempt++) {
            const before = clock.now().getTime();
            const r = await worker.runOnce();
            assert.equal(r.claimed, 2);
            const rows = (await outboxRows(db)).filter((r) => r.kind === "order_placed");
            if (attempt < 5) {
              assert.ok(rows.every((r) => r.status === "PENDING" && r.fail_count === attempt));
              assert.match(rows[0].last_error!, /502/);
              const wait = rows[0].send_after.getTime() - before;
              waits.push(wait / 60_000);
              clock.advance(wait - 1);
              assert.equal((await worker.runOnce()).claimed, 0, "claimed before its time");
              clock.advance(1);
            } else {
              assert.ok(rows.every((r) => r.status === "FAILED" && r.fail_count === 5));
            }
          }
          assert.deepEqual(waits, [1, 2, 5, 15]);
          const alerts = (await outboxRows(db)).filter((r) => r.kind === "outbox_failed");
          assert.deepEqual(alerts.map((a) => [a.chat_id, a.severity]), [[10, "CRITICAL"], [
            11,
            "CRITICAL",
          ]]);
          assert.match(alerts[0].text, /chat 10 \(ops\) was not delivered after 5 attempt/);
          // The alert reaches chat 11; to chat 10 it fails five times and raises nothing more.
          for (let i = 0; i < 6; i++) {
            await worker.drain();
            clock.advance(limits.outboxRetryScheduleMs[4]);
          }
          assert.equal(textsTo(11).length, 1);
          assert.match(textsTo(11)[0], /was not delivered/);
          const after = await outboxRows(db);
          assert.equal(after.length, 4);
          assert.equal(
            after.find((r) => r.chat_id === 10 && r.kind === "outbox_failed")?.status,
            "FAILED",
          );
          assert.equal(tg.messages.filter((m) => m.chatId === 10).length, 0);
        },
      );

      await ctx.step("a 429 waits retry_after and does not count as a failure", async () => {
        await fresh();
        await addChat(db, 20);
        tg.fail({ kind: "rate_limited", retryAfterS: 30 }, { times: 1 });
        await enqueue("INFO", "slow down");
        const { clock, worker } = setup();
        const before = clock.now().getTime();
        assert.deepEqual(await worker.runOnce(), {
          claimed: 1,
          sent: 0,
          retried: 0,
          failed: 0,
          deferred: 1,
        });
        const [row] = await outboxRows(db);
        assert.equal(row.fail_count, 0);
        assert.equal(row.status, "PENDING");
        assert.equal(row.send_after.getTime() - before, 30_000);
        clock.advance(29_999);
        assert.equal((await worker.runOnce()).claimed, 0);
        clock.advance(1);
        assert.equal((await worker.runOnce()).sent, 1);
        assert.deepEqual(textsTo(20), ["slow down"]);
      });

      await ctx.step("a 429 for one chat does not hold up the other chats", async () => {
        await fresh();
        await addChat(db, 21);
        await addChat(db, 22);
        tg.fail({ kind: "rate_limited", retryAfterS: 30 }, { chatId: 21, times: 1 });
        await enqueue("INFO", "x");
        await enqueue("INFO", "y");
        const { clock, worker } = setup();
        const before = clock.now().getTime();
        const r = await worker.runOnce();
        assert.deepEqual([r.sent, r.deferred], [2, 2]);
        assert.deepEqual(textsTo(22), ["x", "y"]);
        // The fake clock moves only when the worker sleeps: nobody waited out the 30 s here.
        assert.equal(clock.now().getTime() - before, 0);
        const rows = (await outboxRows(db)).filter((r) => r.chat_id === 21);
        assert.ok(
          rows.every((r) => r.fail_count === 0 && r.send_after.getTime() === before + 30_000),
        );
        clock.advance(30_000);
        await worker.drain();
        assert.deepEqual(textsTo(21), ["x", "y"]);
      });

      await ctx.step(
        "a 403 deactivates the chat, fails its queue and warns the others",
        async () => {
          await fresh();
          await addChat(db, 30, "INFO", "alice");
          await addChat(db, 31);
          tg.fail({ kind: "blocked" }, { chatId: 30 });
          await enqueue("INFO", "one");
          await enqueue("INFO", "two");
          const { clock, worker } = setup();
          await worker.drain();
          assert.equal(tg.requests - tg.messages.length, 1, "the blocked chat was tried once");
          const [chat] = await db.query<{ active: boolean; deactivated_reason: string }>(
            "select active, deactivated_reason from telegram_chats where chat_id = 30",
          );
          assert.equal(chat.active, false);
          assert.match(chat.deactivated_reason, /bot was blocked/);
          const rows = await outboxRows(db);
          assert.deepEqual(
            rows.filter((r) => r.chat_id === 30).map((r) => r.status),
            ["FAILED", "FAILED"],
          );
          assert.deepEqual(textsTo(31).slice(0, 2), ["one", "two"]);
          assert.match(textsTo(31)[2], /Chat 30 \(alice\) no longer receives notifications/);
          assert.equal(rows.filter((r) => r.kind === "outbox_failed").length, 0);
          clock.advance(3_600_000);
          await worker.drain();
          assert.equal(await enqueue("CRITICAL", "three"), 1, "only chat 31 gets new rows");
          await worker.drain();
          assert.equal(tg.requests - tg.messages.length, 1, "never retried");
        },
      );

      await ctx.step(
        "a hanging Bot API counts as a temporary failure, then the row goes out",
        async () => {
          await fresh();
          await addChat(db, 35);
          tg.fail({ kind: "hang" }, { times: 1 });
          await enqueue("INFO", "after the hang");
          const { clock, worker } = setup({
            sender: telegramSender({ token: tg.token, apiUrl: tg.apiRoot, timeoutSeconds: 0.2 }),
          });
          assert.equal((await worker.runOnce()).retried, 1);
          const [row] = await outboxRows(db);
          assert.deepEqual([row.status, row.fail_count], ["PENDING", 1]);
          clock.advance(60_000);
          assert.equal((await worker.runOnce()).sent, 1);
          assert.deepEqual(textsTo(35), ["after the hang"]);
        },
      );

      await ctx.step("a chat deactivated by a 403 receives again once it is re-added", async () => {
        await fresh();
        await addChat(db, 36);
        tg.fail({ kind: "chat_not_found" }, { times: 1 });
        await enqueue("INFO", "lost");
        const { worker } = setup();
        await worker.drain();
        assert.equal(await enqueue("INFO", "while inactive"), 0);
        const { addChat: reAdd } = await import("../../../notify/chats.ts");
        const { created } = await reAdd(db, { chatId: 36 });
        assert.equal(created, false);
        assert.equal(await enqueue("INFO", "back"), 1);
        await worker.drain();
        assert.deepEqual(textsTo(36), ["back"]);
      });

      await ctx.step("a text Telegram cannot parse fails at once and alerts", async () => {
        await fresh();
        await addChat(db, 40);
        tg.fail({ kind: "parse_error" }, { times: 1 });
        await enqueue("INFO", "bad");
        const { worker } = setup();
        await worker.runOnce();
        const [row, alert] = await outboxRows(db);
        assert.deepEqual([row.status, row.fail_count], ["FAILED", 1]);
        assert.match(row.last_error!, /can't parse entities/);
        assert.equal(alert.kind, "outbox_failed");
        await worker.drain();
        assert.equal(textsTo(40).length, 1);
      });

      await ctx.step(
        "a Telegram outage of several minutes loses and duplicates nothing",
        async () => {
          await fresh();
          await addChat(db, 50);
          await addChat(db, 51);
          tg.fail({ kind: "server_error" }, { times: 25 });
          tg.fail({ kind: "bad_gateway_html" }, { times: 15 });
          const texts = Array.from({ length: 10 }, (_, i) => `event ${i}`);
          for (const text of texts) await enqueue("INFO", text);
          const { clock, worker } = setup();
          const start = clock.now().getTime();
          for (let minute = 0; minute < 30; minute++) {
            if (minute === 6) tg.clearFailures();
            await worker.drain();
            clock.advance(60_000);
          }
          assert.ok(clock.now().getTime() - start >= 6 * 60_000);
          assert.deepEqual(textsTo(50), texts);
          assert.deepEqual(textsTo(51), texts);
          const rows = await outboxRows(db);
          assert.equal(rows.length, 20);
          assert.ok(
            rows.every((r) => r.status === "SENT" && r.fail_count >= 1 && r.fail_count < 5),
          );
        },
      );

      await ctx.step("one chat's messages go out at most one a second", async () => {
        await fresh();
        await addChat(db, 60);
        for (const text of ["a", "b", "c"]) await enqueue("INFO", text);
        const { clock, worker } = setup({ perChatPerS: 1, globalPerS: 30 });
        const start = clock.now().getTime();
        assert.equal((await worker.drain()).sent, 3);
        assert.equal(clock.now().getTime() - start, 2000);
        assert.deepEqual(textsTo(60), ["a", "b", "c"]);
      });

      await ctx.step("a lost SENT mark is sent once more after the lease, never more", async () => {
        await fresh();
        await addChat(db, 70);
        const texts = ["r1", "r2", "r3", "r4", "r5"];
        for (const text of texts) await enqueue("INFO", text);
        // The process dies after sending, before recording: the SENT update never lands.
        const killedOnSent = <S extends Sql>(sql: S): S => ({
          ...sql,
          query: (text: string, params?: readonly unknown[]) =>
            text.includes("status = 'SENT'")
              ? Promise.reject(new Error("killed"))
              : sql.query(text, params),
        });
        const crashing: Db = {
          ...killedOnSent(db),
          transaction: (fn) => db.transaction((tx) => fn(killedOnSent(tx))),
        };
        const { clock } = setup();
        const opts = {
          db: crashing,
          sender: telegramSender({ token: tg.token, apiUrl: tg.apiRoot }),
        };
        const dying = outboxWorker({ ...opts, clock, log, perChatPerS: 0, globalPerS: 0 });
        await assert.rejects(dying.runOnce(), /killed/);
        assert.deepEqual(textsTo(70), texts);
        const restarted = outboxWorker({
          db,
          sender: opts.sender,
          clock,
          log,
          perChatPerS: 0,
          globalPerS: 0,
        });
        assert.equal((await restarted.runOnce()).claimed, 0, "leased rows wait");
        clock.advance(limits.outboxLeaseMs);
        assert.equal((await restarted.drain()).sent, 5);
        clock.advance(limits.outboxLeaseMs * 10);
        assert.equal((await restarted.drain()).claimed, 0);
        assert.deepEqual(textsTo(70), [...texts, ...texts]);
      });

      await ctx.step(
        "after a restore from backup each sent row is re-sent at most once",
        async () => {
          await fresh();
          await addChat(db, 80);
          const texts = ["b1", "b2", "b3"];
          for (const text of texts) await enqueue("INFO", text);
          // The backup was taken while the rows were PENDING; they were sent after it.
          const backup = await db.query<{ id: number; send_after: Date }>(
            "select id, send_after from notification_outbox",
          );
          const { clock, worker } = setup();
          await worker.drain();
          assert.deepEqual(textsTo(80), texts);
          for (const b of backup) {
            await db.query(
              `update notification_outbox set status = 'PENDING', telegram_message_id = null,
                    sent_at = null, send_after = $2 where id = $1`,
              [b.id, b.send_after],
            );
          }
          for (let i = 0; i < 3; i++) {
            await worker.drain();
            clock.advance(limits.outboxLeaseMs);
          }
          assert.deepEqual(textsTo(80), [...texts, ...texts]);
          assert.ok((await outboxRows(db)).every((r) => r.status === "SENT"));
        },
      );

      await ctx.step(
        "the running worker wakes on NOTIFY without waiting for its poll",
        async () => {
          await fresh();
          await addChat(db, 90);
          const controller = new AbortController();
          const worker = outboxWorker({
            db,
            sender: telegramSender({ token: tg.token, apiUrl: tg.apiRoot }),
            clock: systemClock,
            log,
            pollMs: 60_000,
          });
          const { stopped } = await worker.start(controller.signal);
          try {
            await new Promise((r) => setTimeout(r, 200));
            await db.transaction((tx) => enqueue("INFO", "wake up", "wake", tx));
            await tg.waitForMessages(1, 5_000);
            assert.deepEqual(textsTo(90), ["wake up"]);
          } finally {
            controller.abort();
            await stopped;
          }
        },
      );
    } finally {
      await tg.close();
      await t.close();
    }
  },
});
