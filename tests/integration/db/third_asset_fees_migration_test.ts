/**
 * Migration 0032 marks the positions already there whose fills paid fees in a third asset
 * (BNB): they were charged 0 for them, so their realized PnL excludes those fees and the views
 * say so. A position whose fees were all in the base or the quote is not marked.
 */
import assert from "node:assert/strict";
import { loadMigrations, migrate } from "../../../db/migrate.ts";
import { emptyTestDb, seedInstrument } from "../../helpers/db.ts";
import type { Db } from "../../../db/db.ts";

async function filled(
  db: Db,
  position: number,
  fill: { side: "buy" | "sell"; fee: string; feeCurrency: string },
) {
  const key = `k-${position}-${fill.side}`;
  const [o] = await db.query<{ id: number }>(
    `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key,
                         client_order_id, status, position_id)
     values ('binance', 'BTC/USDT', $1, 0.1, 50000, $2, $2, 'FILLED', $3) returning id`,
    [fill.side, key, position],
  );
  await db.query(
    `insert into executions (order_id, exchange_trade_id, qty, price, fee, fee_currency,
                             executed_at)
     values ($1, 't1', 0.1, 50000, $2, $3, now())`,
    [o.id, fill.fee, fill.feeCurrency],
  );
}

Deno.test("positions whose fills paid fees in BNB are marked as excluding them", async () => {
  await using t = await emptyTestDb();
  const db = t.db;
  const all = await loadMigrations();
  await migrate(db, { migrations: all.filter((m) => m.version < 32) });
  await seedInstrument(db);
  const positions = await db.query<{ id: number }>(
    `insert into positions (exchange_id, symbol, qty, avg_entry_price, status, realized_pnl)
     values ('binance', 'BTC/USDT', 0, 50000, 'CLOSED', 100),
            ('binance', 'BTC/USDT', 0, 50000, 'CLOSED', 95)
     returning id`,
  );
  const [bnb, usdt] = positions.map((p) => p.id);
  await filled(db, bnb, { side: "buy", fee: "0.00625", feeCurrency: "BNB" });
  await filled(db, bnb, { side: "sell", fee: "5.1", feeCurrency: "USDT" });
  await filled(db, usdt, { side: "buy", fee: "5", feeCurrency: "USDT" });
  await migrate(db, { migrations: all });
  const rows = await db.query<{ id: number; unpriced: string; pnl: string }>(
    `select id, array_to_string(unpriced_fee_assets, ',') as unpriced, realized_pnl::text as pnl
       from positions order by id`,
  );
  assert.deepEqual(rows.map((r) => [r.id, r.unpriced, Number(r.pnl)]), [
    [bnb, "BNB", 100],
    [usdt, "", 95],
  ]);
});
