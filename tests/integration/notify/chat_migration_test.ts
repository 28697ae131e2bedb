/**
 * A group upgraded to a supergroup, seen by the outbox worker: the fake Bot API refuses a message
 * to the old id with 400 and `parameters.migrate_to_chat_id` (as Telegram does), and the worker,
 * through grammY, follows the chat to its new id. PostgreSQL with TEST_DATABASE_URL, PGlite
 * otherwise.
 */
import assert from "node:assert/strict";
import { fakeClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import { followChatMigration } from "../../../notify/chat_migration.ts";
import { addChat, listChats, removeChat } from "../../../notify/chats.ts";
import { enqueueNotification, type Severity } from "../../../notify/enqueue.ts";
import { type Sender, telegramSender } from "../../../notify/telegram.ts";
import { outboxWorker } from "../../../notify/worker.ts";
import { startFakeTelegram } from "../../fakes/telegram.ts";
import { testDb } from "../../helpers/db.ts";
import { outboxRows, resetOutbox } from "../../helpers/outbox.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const t = await testDb();
const { db } = t;
const tg = await startFakeTelegram();
const log = logger("test");
const realSender = telegramSender({ token: tg.token, apiUrl: tg.apiRoot, timeoutSeconds: 2 });

/** A worker on a fake clock an hour ahead of the database, so every enqueued row is due. */
function worker(sender: Sender = realSender) {
  const clock = fakeClock(new Date(Date.now() + 3_600_000));
  return outboxWorker({ db, sender, clock, log, perChatPerS: 0, globalPerS: 0 });
}

async function fresh() {
  await resetOutbox(db);
  tg.messages.length = 0;
  tg.requests = 0;
  tg.clearFailures();
}

const enqueue = (severity: Severity, text: string, o: { key?: string; accountId?: number } = {}) =>
  enqueueNotification(db, {
    severity,
    kind: "order_placed",
    text,
    dedupeKey: o.key ?? text,
    accountId: o.accountId,
  });

/** The texts delivered to a chat, without the header line. */
const textsTo = (chatId: number) =>
  tg.messages.filter((m) => m.chatId === chatId).map((m) => m.text.split("\n").slice(1).join("\n"));

const chatRow = async (chatId: number) =>
  (await db.query<{
    active: boolean;
    label: string | null;
    min_severity: string;
    account_id: number | null;
    deactivated_reason: string | null;
    migrated_to_chat_id: number | null;
  }>(
    `select active, label, min_severity, account_id, deactivated_reason, migrated_to_chat_id
       from telegram_chats where chat_id = $1`,
    [chatId],
  ))[0];

const notices = async () => (await outboxRows(db)).filter((r) => r.kind === "chat_migrated");

async function account(name: string, sql: Db = db): Promise<number> {
  const [a] = await sql.query<{ id: number }>(
    `insert into accounts (name, exchange_id, mode) values ($1, 'binance', 'paper')
     on conflict do nothing returning id`,
    [name],
  );
  return a?.id ??
    (await sql.query<{ id: number }>("select id from accounts where name = $1", [name]))[0].id;
}

Deno.test({
  name: "a group upgraded to a supergroup",
  ...serviceTest,
  fn: async (ctx) => {
    try {
      await ctx.step(
        "the only operator chat is followed: its messages reach the new id once, and it is told once",
        async () => {
          await fresh();
          await addChat(db, { chatId: -4001, minSeverity: "WARN", label: "ops" });
          await enqueue("WARN", "stop hit", { key: "stop:1" });
          await enqueue("CRITICAL", "exchange down");
          tg.upgradeGroup({ fromChatId: -4001, toChatId: -1000000004001, serviceMessages: false });
          const r = await worker().drain();
          assert.equal(r.failed, 0);
          assert.equal(r.retried, 0);
          const to = textsTo(-1000000004001);
          assert.deepEqual(to.slice(0, 2), ["stop hit", "exchange down"]);
          assert.equal(to.length, 3);
          assert.match(
            to[2],
            /^Chat -4001 \(ops\) was upgraded to a supergroup by Telegram and now has the id -1000000004001\. Its notifications go there, with the same settings/,
          );
          assert.deepEqual(textsTo(-4001), []);
          assert.equal(tg.requests - tg.messages.length, 1, "the old id was tried once");

          assert.deepEqual(await chatRow(-1000000004001), {
            active: true,
            label: "ops",
            min_severity: "WARN",
            account_id: null,
            deactivated_reason: null,
            migrated_to_chat_id: null,
          });
          const old = await chatRow(-4001);
          assert.equal(old.active, false);
          assert.equal(Number(old.migrated_to_chat_id), -1000000004001);
          assert.match(old.deactivated_reason!, /upgraded to the supergroup -1000000004001/);

          const rows = await outboxRows(db);
          assert.ok(
            rows.every((r) => r.chat_id === -1000000004001 && r.status === "SENT"),
            "all moved",
          );
          assert.ok(rows.every((r) => r.dedupe_key.endsWith("@-1000000004001")));
          assert.ok(rows.every((r) => r.fail_count === 0), "the refusal is no failure");
          assert.equal((await notices()).length, 1);

          // An event already delivered before the move is not queued again at the new id.
          assert.equal(await enqueue("WARN", "stop hit again", { key: "stop:1" }), 0);
          assert.equal(await enqueue("WARN", "later"), 1);
          await worker().drain();
          assert.deepEqual(textsTo(-1000000004001).slice(3), ["later"]);

          const listed = (await listChats(db)).find((c) => c.chat_id === -4001)!;
          assert.equal(Number(listed.migrated_to_chat_id), -1000000004001);
          await assert.rejects(
            addChat(db, { chatId: -4001 }),
            /Chat -4001 was upgraded to a supergroup by Telegram and is now chat -1000000004001; use the new id: pg-solo-lite chats add -1000000004001/,
          );
          await assert.rejects(removeChat(db, -4001), /chats remove -1000000004001/);
        },
      );

      await ctx.step("an account's chat keeps its account tie at its new id", async () => {
        await fresh();
        const alice = await account("alice");
        const bob = await account("bob");
        await addChat(db, { chatId: 500, label: "operator" });
        await addChat(db, { chatId: -4002, label: "alice", accountId: alice });
        await enqueue("INFO", "alice bought", { accountId: alice });
        tg.upgradeGroup({ fromChatId: -4002, toChatId: -1000000004002, serviceMessages: false });
        await worker().drain();
        assert.equal(Number((await chatRow(-1000000004002)).account_id), alice);
        assert.equal(textsTo(-1000000004002)[0], "alice bought");
        assert.match(textsTo(-1000000004002)[1], /Chat -4002 \(alice\) was upgraded/);
        assert.deepEqual(textsTo(500).slice(0, 1), ["alice bought"]);
        assert.match(textsTo(500)[1], /Chat -4002 \(alice\) was upgraded/);

        assert.equal(await enqueue("INFO", "bob bought", { accountId: bob }), 1, "operator only");
        assert.equal(await enqueue("INFO", "alice sold", { accountId: alice }), 2);
        await worker().drain();
        assert.deepEqual(textsTo(-1000000004002).slice(2), ["alice sold"]);
      });

      await ctx.step(
        "a new id registered already keeps its settings and gets nothing twice",
        async () => {
          await fresh();
          await addChat(db, { chatId: -4003, label: "old" });
          await addChat(db, { chatId: -1000000004003, minSeverity: "WARN", label: "new" });
          await enqueue("INFO", "info only");
          await enqueue("WARN", "both");
          tg.upgradeGroup({ fromChatId: -4003, toChatId: -1000000004003, serviceMessages: false });
          await worker().drain();
          const to = textsTo(-1000000004003);
          assert.deepEqual(to.slice(0, 1), ["both"]);
          assert.equal(to.length, 2);
          assert.match(
            to[1],
            /That id was registered already and keeps its own settings \(receives WARN and above\)\. 2 queued message\(s\) of the old id were dropped/,
          );
          const kept = await chatRow(-1000000004003);
          assert.deepEqual([kept.label, kept.min_severity, kept.active], ["new", "WARN", true]);
          assert.equal(Number((await chatRow(-4003)).migrated_to_chat_id), -1000000004003);
          const left = (await outboxRows(db)).filter((r) => r.chat_id === -4003);
          assert.deepEqual(left.map((r) => r.status), ["FAILED", "FAILED"]);
          assert.ok(left.every((r) => /registered apart/.test(r.last_error!)));
        },
      );

      await ctx.step(
        "a new id registered as another account's chat is told nothing of the old chat",
        async () => {
          await fresh();
          const alice = await account("alice");
          const bob = await account("bob");
          await addChat(db, { chatId: 501, label: "operator" });
          await addChat(db, { chatId: -4007, label: "alice group", accountId: alice });
          await addChat(db, { chatId: -1000000004007, label: "bob group", accountId: bob });
          await enqueue("INFO", "alice bought 2", { accountId: alice });
          tg.upgradeGroup({ fromChatId: -4007, toChatId: -1000000004007, serviceMessages: false });
          await worker().drain();
          assert.deepEqual(
            textsTo(-1000000004007),
            [],
            "neither alice's fill nor her chat's label",
          );
          assert.equal(textsTo(501).length, 2);
          assert.match(
            textsTo(501)[1],
            /^Chat -4007 \(alice group\) was upgraded .* keeps its own settings \(receives INFO and above of account bob only\)/,
          );
          assert.match(
            textsTo(501)[1],
            new RegExp(
              `Careful: the old chat was tied to account id ${alice}; the group is now tied to ` +
                "account bob\\. If it is that account's group, run: pg-solo-lite chats add " +
                "-1000000004007 --account NAME$",
            ),
          );
        },
      );

      await ctx.step(
        "an account's chat merged into an operator chat: the operator is warned",
        async () => {
          await fresh();
          const alice = await account("alice");
          await addChat(db, { chatId: 502, label: "operator" });
          await addChat(db, { chatId: -4008, label: "alice group", accountId: alice });
          await addChat(db, { chatId: -1000000004008, label: "new" });
          await enqueue("WARN", "stop of alice", { accountId: alice });
          tg.upgradeGroup({ fromChatId: -4008, toChatId: -1000000004008, serviceMessages: false });
          await worker().drain();
          const notice = (await notices()).map((r) => r.text);
          assert.equal(notice.length, 2, "to both operator chats: 502 and the new id");
          assert.match(
            notice[0],
            /the group is now an operator chat: it hears every account, and the admins' commands there show and change every account\. If it is that account's group, run: pg-solo-lite chats add -1000000004008 --account NAME$/,
          );
        },
      );

      await ctx.step(
        "a chat removed while its message was on the way moves deactivated and receives nothing",
        async () => {
          await fresh();
          await addChat(db, { chatId: 600, label: "operator" });
          await addChat(db, { chatId: -4004, label: "team" });
          tg.upgradeGroup({ fromChatId: -4004, toChatId: -1000000004004, serviceMessages: false });
          let removed = false;
          const removing: Sender = async (chatId, html, signal) => {
            if (chatId === -4004 && !removed) {
              removed = true;
              await removeChat(db, -4004);
            }
            return await realSender(chatId, html, signal);
          };
          await enqueue("INFO", "fill");
          await worker(removing).drain();
          assert.deepEqual(textsTo(-1000000004004), []);
          assert.deepEqual(textsTo(-4004), []);
          const moved = await chatRow(-1000000004004);
          assert.deepEqual([moved.active, moved.deactivated_reason], [
            false,
            "removed by the operator",
          ]);
          assert.equal(Number((await chatRow(-4004)).migrated_to_chat_id), -1000000004004);
          const [row] = (await outboxRows(db)).filter((r) => r.text === "fill" && r.chat_id < 0);
          assert.deepEqual([row.chat_id, row.status], [-1000000004004, "FAILED"]);
          assert.equal(textsTo(600)[0], "fill");
          assert.match(
            textsTo(600)[1],
            /Chat -4004 \(team\) was upgraded .* It stays deactivated \(removed by the operator\); to hear from it again, run: pg-solo-lite chats add -1000000004004/,
          );
          assert.equal(textsTo(600).length, 2);
        },
      );

      await ctx.step(
        "the same upgrade seen twice moves once, sends once and tells once",
        async () => {
          await fresh();
          await addChat(db, { chatId: -4005 });
          tg.upgradeGroup({ fromChatId: -4005, toChatId: -1000000004005, serviceMessages: false });
          // The service message is handled after the row was claimed, before its send.
          let seen: string[] = [];
          const late: Sender = async (chatId, html, signal) => {
            if (chatId === -4005 && seen.length === 0) {
              for (let i = 0; i < 2; i++) {
                const m = await db.transaction((tx) =>
                  followChatMigration(tx, { fromChatId: -4005, toChatId: -1000000004005 })
                );
                seen.push(m.outcome);
              }
            }
            return await realSender(chatId, html, signal);
          };
          await enqueue("INFO", "once");
          await worker(late).drain();
          assert.deepEqual(seen, ["moved", "already"]);
          assert.deepEqual(textsTo(-1000000004005).slice(0, 1), ["once"]);
          assert.equal(textsTo(-1000000004005).length, 2, "the message and one notice");
          assert.equal((await notices()).length, 1);
          seen = [];
          const again = await db.transaction((tx) =>
            followChatMigration(tx, { fromChatId: -4005, toChatId: -1000000004005 })
          );
          assert.equal(again.outcome, "already");
          await worker().drain();
          assert.equal(textsTo(-1000000004005).length, 2);
        },
      );

      await ctx.step(
        "a new id Telegram would never give is refused, and the message retries with the reason",
        async () => {
          await fresh();
          await addChat(db, { chatId: -4006 });
          tg.fail({ kind: "migrated", toChatId: 77 }, { chatId: -4006, times: 1 });
          await enqueue("INFO", "odd");
          const r = await worker().runOnce();
          assert.equal(r.retried, 1);
          const [row] = await outboxRows(db);
          assert.deepEqual([row.chat_id, row.status, row.fail_count], [-4006, "PENDING", 1]);
          assert.match(
            row.last_error!,
            /Telegram says chat -4006 is now chat 77 \(upgraded to a supergroup\), but following it failed: Chat -4006 cannot become chat 77/,
          );
          assert.equal((await chatRow(-4006)).active, true);
          assert.equal(await chatRow(77), undefined);
        },
      );
    } finally {
      await tg.close();
      await t.close();
    }
  },
});
