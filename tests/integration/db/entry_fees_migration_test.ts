/**
 * Migration 0031 charges the buys' fees of the positions already there against their realized
 * PnL: a closed position realizes them all, an open one the share of what its buys received
 * that it has sold, and keeps the rest as `entry_fees` for the sells to come.
 */
import assert from "node:assert/strict";
import { loadMigrations, migrate } from "../../../db/migrate.ts";
import { emptyTestDb, seedInstrument } from "../../helpers/db.ts";
import type { Db } from "../../../db/db.ts";

async function boughtInto(
  db: Db,
  position: number,
  fill: { symbol: string; qty: string; price: string; fee: string; feeCurrency: string },
) {
  const [o] = await db.query<{ id: number }>(
    `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key,
                         client_order_id, status, position_id)
     values ('binance', $1, 'buy', $2, $3, $4, $4, 'FILLED', $5) returning id`,
    [fill.symbol, fill.qty, fill.price, `k-${position}-${fill.price}`, position],
  );
  await db.query(
    `insert into executions (order_id, exchange_trade_id, qty, price, fee, fee_currency,
                             executed_at)
     values ($1, 't1', $2, $3, $4, $5, now())`,
    [o.id, fill.qty, fill.price, fill.fee, fill.feeCurrency],
  );
}

Deno.test("positions already there are charged the fees of their buys", async () => {
  await using t = await emptyTestDb();
  const db = t.db;
  const all = await loadMigrations();
  await migrate(db, { migrations: all.filter((m) => m.version < 31) });
  await seedInstrument(db);
  await seedInstrument(db, { symbol: "ETH/USDT", stepSize: "0.0001" });
  await seedInstrument(db, { symbol: "SOL/USDT", stepSize: "0.01" });
  const positions = await db.query<{ id: number }>(
    `insert into positions (exchange_id, symbol, qty, avg_entry_price, status, realized_pnl, fees)
     values ('binance', 'BTC/USDT', 0, 50000, 'CLOSED', 18.98, 2.02),
            ('binance', 'ETH/USDT', 0.666, 3000, 'OPEN', 10, 3.31),
            ('binance', 'SOL/USDT', 2, 100, 'OPEN', 0, 0)
     returning id`,
  );
  const [btc, eth] = positions.map((p) => p.id);
  // BTC: 0.02 bought (1 USDT fee), all sold. ETH: 1 bought for 0.999 received (its fee of
  // 0.001 ETH is 3 USDT), a third of that sold. SOL: no fills recorded.
  await boughtInto(db, btc, {
    symbol: "BTC/USDT",
    qty: "0.02",
    price: "50000",
    fee: "1",
    feeCurrency: "USDT",
  });
  await boughtInto(db, eth, {
    symbol: "ETH/USDT",
    qty: "1",
    price: "3000",
    fee: "0.001",
    feeCurrency: "ETH",
  });
  await migrate(db, { migrations: all });
  const rows = await db.query<{ symbol: string; realized: string; entry: string }>(
    `select symbol, realized_pnl::text as realized, entry_fees::text as entry from positions
      order by symbol`,
  );
  assert.deepEqual(rows.map((r) => [r.symbol, Number(r.realized), Number(r.entry)]), [
    ["BTC/USDT", 17.98, 0],
    ["ETH/USDT", 9, 2],
    ["SOL/USDT", 0, 0],
  ]);
});
