/**
 * Group commit of exchange answers: answers that queue up behind a running commit are applied
 * in one transaction, and one answer that cannot be applied never holds back the others.
 */
import assert from "node:assert/strict";
import { seedInstrument, testDb } from "../../helpers/db.ts";
import { createApplyQueue } from "../../../execution/apply_queue.ts";
import { ORDER_COLUMNS, type OrderRow } from "../../../execution/order_updates.ts";
import type { ExchangeOrder } from "../../../exchange/port.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

async function newOrder(db: Db, cid: string): Promise<OrderRow> {
  const [row] = await db.query<OrderRow>(
    `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key, client_order_id)
     values ('binance', 'BTC/USDT', 'buy', 0.001, 50000, $1, $1) returning ${ORDER_COLUMNS}`,
    [cid],
  );
  return row;
}

const filled = (row: OrderRow, qty: string): ExchangeOrder => ({
  id: `x-${row.client_order_id}`,
  clientOrderId: row.client_order_id,
  symbol: "BTC/USDT",
  side: "buy",
  type: "market",
  status: "closed",
  qty,
  filled: qty,
  ts: 0,
  fills: [{
    id: `t-${row.client_order_id}`,
    orderId: `x-${row.client_order_id}`,
    symbol: "BTC/USDT",
    side: "buy",
    qty,
    price: "50000",
    fee: "0.05",
    feeCurrency: "USDT",
    ts: 0,
  }],
});

Deno.test({
  name: "queued answers commit together, and a bad one is applied alone without the others",
  ...serviceTest,
  fn: async () => {
    const t = await testDb();
    try {
      await seedInstrument(t.db);
      const [a, b, c] = [
        await newOrder(t.db, "q-a"),
        await newOrder(t.db, "q-b"),
        await newOrder(t.db, "q-c"),
      ];
      // One flusher: a is committed alone, b and c queue behind it and go in one batch.
      const apply = createApplyQueue(t.db, "main", 50, 1);
      const results = await Promise.allSettled([
        apply(a, filled(a, "0.001")),
        apply(b, filled(b, "0.001")),
        // More than the order's quantity: the database refuses it, and the batch with it.
        apply(c, filled(c, "0.002")),
      ]);
      assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled", "rejected"]);
      const rows = await t.db.query<{ client_order_id: string; status: string }>(
        "select client_order_id, status from orders order by id",
      );
      assert.deepEqual(rows.map((r) => [r.client_order_id, r.status]), [
        ["q-a", "FILLED"],
        ["q-b", "FILLED"],
        ["q-c", "NEW"],
      ]);
      const [p] = await t.db.query<{ qty: string }>("select qty::text from positions");
      assert.equal(Number(p.qty), 0.002);
      const [{ n }] = await t.db.query<{ n: number }>(
        "select count(*)::int as n from transactions",
      );
      assert.equal(n, 6, "two fills, three legs each; nothing of the refused one");
    } finally {
      await t.close();
    }
  },
});
