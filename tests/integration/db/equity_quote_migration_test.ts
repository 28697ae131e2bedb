/**
 * Migration 0024 keys the protections' equity readings by quote asset without losing one: a
 * reading taken before it is in the one quote of its account's orders (USDT when it has none)
 * and keeps its first reading and peak, so the daily loss limit and the drawdown lock go on
 * from where they were; readings of an account that traded several quotes were mixed and are
 * kept apart as 'mixed', compared with nothing.
 */
import assert from "node:assert/strict";
import { loadMigrations, migrate } from "../../../db/migrate.ts";
import { emptyTestDb, seedInstrument } from "../../helpers/db.ts";

Deno.test("equity readings taken before quotes were kept take the quote their account traded", async () => {
  await using t = await emptyTestDb();
  const db = t.db;
  const all = await loadMigrations();
  await migrate(db, { migrations: all.filter((m) => m.version < 24) });
  await seedInstrument(db, { symbol: "ETH/BTC", minNotional: "0.0001" });
  await seedInstrument(db);
  await db.query(
    `insert into accounts (id, name, exchange_id, mode)
     values (2, 'idle', 'binance', 'paper'), (3, 'both', 'binance', 'paper')`,
  );
  await db.query(
    `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key,
                         client_order_id, status, account_id)
     values ('binance', 'ETH/BTC', 'buy', 0.1, 0.06, 'k-1', 'pgq1-1', 'FILLED', 1),
            ('binance', 'ETH/BTC', 'buy', 0.1, 0.06, 'k-2', 'pgq2-1', 'FILLED', 3),
            ('binance', 'BTC/USDT', 'buy', 0.01, 50000, 'k-3', 'pgq3-1', 'FILLED', 3)`,
  );
  await db.query(
    `insert into equity_marks (account_id, day, first_equity, last_equity, peak_equity)
     values (1, '2026-03-02', 0.2, 0.19, 0.21), (2, '2026-03-02', 1000, 990, 1100),
            (3, '2026-03-02', 10000, 9000, 10000)`,
  );
  await migrate(db, { migrations: all });
  const marks = await db.query<{ account_id: string; quote: string; first: string; peak: string }>(
    `select account_id::text, quote, first_equity::text as first, peak_equity::text as peak
       from equity_marks order by account_id`,
  );
  assert.deepEqual(marks.map((m) => [m.account_id, m.quote, m.first, m.peak]), [
    ["1", "BTC", "0.2", "0.21"],
    ["2", "USDT", "1000", "1100"],
    ["3", "mixed", "10000", "10000"],
  ]);
  // One reading per account, day and quote.
  await db.query(
    `insert into equity_marks (account_id, day, quote, first_equity, last_equity, peak_equity)
     values (1, '2026-03-02', 'USDT', 500, 500, 500)`,
  );
  await assert.rejects(
    db.query(
      `insert into equity_marks (account_id, day, quote, first_equity, last_equity, peak_equity)
       values (1, '2026-03-02', 'USDT', 400, 400, 400)`,
    ),
    /duplicate key|unique/i,
  );
});
