/**
 * Migration 0033 records the account of the messages already queued where it is known: a row in
 * an account's chat was queued for that account; one in an operator chat stays of no account, so
 * it is never sent to a chat tied to an account later.
 */
import assert from "node:assert/strict";
import { loadMigrations, migrate } from "../../../db/migrate.ts";
import { emptyTestDb } from "../../helpers/db.ts";

Deno.test("the messages already queued keep the account of their chat", async () => {
  await using t = await emptyTestDb();
  const db = t.db;
  const all = await loadMigrations();
  await migrate(db, { migrations: all.filter((m) => m.version < 33) });
  const [alice] = await db.query<{ id: string }>(
    `insert into accounts (name, exchange_id, mode) values ('alice', 'binance', 'paper')
     returning id::text`,
  );
  await db.query("insert into telegram_chats (chat_id) values (-1)");
  await db.query("insert into telegram_chats (chat_id, account_id) values (2, $1)", [alice.id]);
  await db.query("select enqueue_notification('INFO', 'order_filled', 'fill', 'k', $1)", [
    alice.id,
  ]);
  await migrate(db, { migrations: all });
  const rows = await db.query<{ chat_id: string; account_id: string | null }>(
    "select chat_id::text, account_id::text from notification_outbox order by chat_id",
  );
  assert.deepEqual([...rows], [
    { chat_id: "-1", account_id: null },
    { chat_id: "2", account_id: alice.id },
  ]);
  // From now on each row carries its account, in every chat.
  await db.query("select enqueue_notification('INFO', 'order_filled', 'fill 2', 'k2', $1)", [
    alice.id,
  ]);
  const fresh = await db.query<{ account_id: string }>(
    "select account_id::text from notification_outbox where dedupe_key like 'k2@%'",
  );
  assert.deepEqual(fresh.map((r) => r.account_id), [alice.id, alice.id]);
});
