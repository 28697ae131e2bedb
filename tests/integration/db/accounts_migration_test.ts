/**
 * Migration 0016 moves a single-account database to the default account without loss: a
 * database filled through the schema before accounts (a live history with a filled order, a
 * resting one, an open position, ledger legs of both books, a risk action, a chat) is migrated,
 * and every row keeps its meaning and its rules: the ledger chain still verifies, the resting
 * order still blocks its key and its sell, and the chat still hears everything.
 */
import assert from "node:assert/strict";
import { loadMigrations, migrate } from "../../../db/migrate.ts";
import { verifyLedger } from "../../../db/ledger.ts";
import { enqueueNotification, NotificationKind } from "../../../notify/mod.ts";
import { emptyTestDb, seedInstrument } from "../../helpers/db.ts";

Deno.test("a database of the single-account schema keeps every row's meaning under accounts", async () => {
  await using t = await emptyTestDb();
  const db = t.db;
  const all = await loadMigrations();
  await migrate(db, { migrations: all.filter((m) => m.version < 16) });

  await seedInstrument(db);
  await db.query("update exchanges set mode = 'live' where id = 'binance'");
  await db.query("insert into strategies (name) values ('trend')");
  await db.query("insert into telegram_chats (chat_id) values (42)");
  const [alert] = await db.query<{ id: number }>(
    `insert into inbound_alerts (source, idempotency_key, raw_body, payload, decision, status)
     values ('pine', 'old-1', '{}', '{}', '{"symbol":"BTC/USDT"}', 'EXECUTED') returning id`,
  );
  const [filled] = await db.query<{ id: number }>(
    `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key,
                         client_order_id, alert_id, status, filled_qty, avg_fill_price)
     values ('binance', 'BTC/USDT', 'buy', 0.01, 50000, 'old-1', 'pgold1-1', $1, 'FILLED', 0.01, 50000)
     returning id`,
    [alert.id],
  );
  const [exec] = await db.query<{ id: number }>(
    `insert into executions (order_id, exchange_trade_id, qty, price, fee, fee_currency, executed_at)
     values ($1, 't-1', 0.01, 50000, 0.5, 'USDT', now()) returning id`,
    [filled.id],
  );
  const [position] = await db.query<{ id: number }>(
    `insert into positions (exchange_id, symbol, qty, avg_entry_price, stop_price, strategy)
     values ('binance', 'BTC/USDT', 0.01, 50000, 49000, 'trend') returning id`,
  );
  await db.query(
    `insert into transactions (exchange_id, account, asset, amount, kind, order_id, execution_id)
     values ('binance', 'main', 'BTC', 0.01, 'trade', $1, $2),
            ('binance', 'main', 'USDT', -500, 'trade', $1, $2),
            ('binance', 'main', 'USDT', -0.5, 'fee', $1, $2),
            ('binance', 'paper', 'USDT', 10000, 'deposit', null, null)`,
    [filled.id, exec.id],
  );
  // A resting sell of the whole position.
  await db.query(
    `insert into orders (exchange_id, symbol, side, type, qty, price, idempotency_key,
                         client_order_id, status, position_id)
     values ('binance', 'BTC/USDT', 'sell', 'limit', 0.01, 60000, 'old-2', 'pgold2-1', 'OPEN', $1)`,
    [position.id],
  );
  await db.query(
    `insert into risk_actions (position_id, kind, status) values ($1, 'stop_loss', 'DONE')`,
    [position.id],
  );
  const counts = async () =>
    (await db.query<Record<string, number>>(
      `select (select count(*)::int from orders) as orders,
              (select count(*)::int from executions) as executions,
              (select count(*)::int from positions) as positions,
              (select count(*)::int from transactions) as transactions,
              (select count(*)::int from risk_actions) as risk_actions,
              (select count(*)::int from inbound_alerts) as alerts`,
    ))[0];
  const before = await counts();
  const head = async () =>
    (await db.query<{ seq: number; hash: string }>(
      "select chain_seq::int as seq, hash from transactions order by chain_seq desc limit 1",
    ))[0];
  const headBefore = await head();

  await migrate(db);

  assert.deepEqual(await counts(), before, "no row lost or added");
  const [account] = await db.query<{ id: number; name: string; exchange_id: string; mode: string }>(
    "select id::int, name, exchange_id, mode from accounts",
  );
  assert.deepEqual(account, { id: 1, name: "default", exchange_id: "binance", mode: "live" });
  for (const table of ["orders", "executions", "positions", "transactions", "risk_actions"]) {
    const [r] = await db.query<{ n: number }>(
      `select count(*)::int as n from ${table} where account_id <> 1`,
    );
    assert.equal(r.n, 0, `every ${table} row belongs to the default account`);
  }
  const ledgerAfter = await verifyLedger(db);
  assert.equal(ledgerAfter.ok, true, JSON.stringify(ledgerAfter.broken));
  assert.deepEqual(ledgerAfter.head, headBefore, "the chain is the same chain");
  assert.deepEqual(await head(), headBefore);

  // The resting sell still holds the whole position: a second sell is refused.
  await assert.rejects(
    db.query(
      `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key, client_order_id)
       values ('binance', 'BTC/USDT', 'sell', 0.01, 50000, 'new-sell', 'pgnew-1')`,
    ),
    /exceeds the 0.01 BTC held \(0.01 already being sold\)/,
  );
  // Its key is still taken on the default account, and free on another one.
  await assert.rejects(
    db.query(
      `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key, client_order_id)
       values ('binance', 'BTC/USDT', 'buy', 0.01, 50000, 'old-1', 'pgold1-2')`,
    ),
    /already has a filled or active order/,
  );
  await db.query(
    "insert into accounts (name, exchange_id, mode) values ('alice', 'binance', 'live')",
  );
  await db.query(
    `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key, client_order_id,
                         account_id)
     values ('binance', 'BTC/USDT', 'buy', 0.01, 50000, 'old-1', 'pgalice1-1',
             (select id from accounts where name = 'alice'))`,
  );
  // The chat, tied to no account, is the operator's: it hears every account.
  assert.equal(
    await enqueueNotification(db, {
      severity: "INFO",
      kind: NotificationKind.orderPlaced,
      text: "alice's order",
      dedupeKey: "migrated-chat",
      accountId: 2,
    }),
    1,
  );
});
