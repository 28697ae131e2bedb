/**
 * Migration 0025 closes the positions that an exit left open with less than the market's step
 * (the dust of a buy's commission taken in the base): they could never be sold, and counted as
 * open (MAX_OPEN_POSITIONS, the watch, the protector). A position with an order of its symbol
 * still working, or with a sellable quantity, stays open.
 */
import assert from "node:assert/strict";
import { loadMigrations, migrate } from "../../../db/migrate.ts";
import { emptyTestDb, seedInstrument } from "../../helpers/db.ts";

Deno.test("positions left open with only dust below the step are closed; others stay open", async () => {
  await using t = await emptyTestDb();
  const db = t.db;
  const all = await loadMigrations();
  await migrate(db, { migrations: all.filter((m) => m.version < 25) });
  await seedInstrument(db, { stepSize: "0.00001" });
  await seedInstrument(db, { symbol: "ETH/USDT", stepSize: "0.0001" });
  await seedInstrument(db, { symbol: "SOL/USDT", stepSize: "0.01" });
  await db.query(
    `insert into positions (exchange_id, symbol, qty, avg_entry_price, status)
     values ('binance', 'BTC/USDT', 0.00000766, 50000, 'OPEN'),
            ('binance', 'ETH/USDT', 0.5, 3000, 'OPEN'),
            ('binance', 'SOL/USDT', 0.005, 1500, 'OPEN')`,
  );
  // An order still working on SOL: the migration leaves that position to the fills.
  await db.query(
    `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key,
                         client_order_id, status)
     values ('binance', 'SOL/USDT', 'buy', 0.1, 1500, 'k-1', 'pgd1-1', 'OPEN')`,
  );
  await migrate(db, { migrations: all });
  const rows = await db.query<{ symbol: string; status: string; qty: string; closed: boolean }>(
    `select symbol, status, qty::text, closed_at is not null as closed from positions
      order by symbol`,
  );
  assert.deepEqual(rows.map((r) => [r.symbol, r.status, Number(r.qty), r.closed]), [
    ["BTC/USDT", "CLOSED", 0.00000766, true],
    ["ETH/USDT", "OPEN", 0.5, false],
    ["SOL/USDT", "OPEN", 0.005, false],
  ]);
});
