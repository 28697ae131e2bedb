/**
 * A sell never sells more than the position holds, counting what active sell orders are
 * already selling: the planner sells what is free, and the database refuses the rest (two
 * sells planned at the same time from the same position).
 */
import assert from "node:assert/strict";
import { alertOf, count, insertAlert, withLive } from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;

Deno.test({
  ...opts,
  name: "a market sell after a resting limit sell of the whole position is refused",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await insertAlert(db, { qty: "0.01", sl: "49000" });
      await agent.runOnce();
      await insertAlert(db, { action: "sell", qty: "0.01", price: "60000" });
      await agent.runOnce();
      const market = await insertAlert(db, { action: "sell", qty: "0.01" }, "pine");
      await agent.runOnce();
      const a = await alertOf(db, market);
      assert.equal(a.status, "REJECTED");
      assert.match(a.error ?? "", /already being sold/);
      assert.equal(fake.orders.filter((o) => o.side === "SELL").length, 1);
    }),
});

Deno.test({
  ...opts,
  name: "a sell without a quantity sells only what no active sell order is already selling",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await insertAlert(db, { qty: "0.01", sl: "49000" });
      await agent.runOnce();
      await insertAlert(db, { action: "sell", qty: "0.004", price: "60000" });
      await agent.runOnce();
      await insertAlert(db, { action: "sell" });
      await agent.runOnce();
      const sells = fake.orders.filter((o) => o.side === "SELL").map((o) => Number(o.origQty));
      assert.deepEqual(sells, [0.004, 0.006]);
      const [p] = await db.query<{ qty: string }>("select qty::text from positions");
      assert.equal(Number(p.qty), 0.004);
    }),
});

Deno.test({
  ...opts,
  name: "two sells of the whole position claimed in one pass place one order",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await insertAlert(db, { qty: "0.01", sl: "49000" });
      await agent.runOnce();
      const ids = [
        await insertAlert(db, { action: "sell", qty: "0.01" }, "pine"),
        await insertAlert(db, { action: "sell", qty: "0.01" }, "pine"),
      ];
      const s = await agent.runOnce();
      assert.equal(s.claimed, 2);
      assert.equal(fake.orders.filter((o) => o.side === "SELL").length, 1);
      const statuses = await Promise.all(ids.map(async (id) => (await alertOf(db, id)).status));
      assert.deepEqual(statuses.sort(), ["EXECUTED", "REJECTED"]);
      const [p] = await db.query<{ qty: string; status: string }>(
        "select qty::text, status from positions",
      );
      assert.deepEqual([Number(p.qty), p.status], [0, "CLOSED"]);
    }),
});

Deno.test({
  ...opts,
  name: "the database refuses a sell order above the held quantity minus active sells",
  fn: () =>
    withLive(async ({ db, agent }) => {
      await insertAlert(db, { qty: "0.01", sl: "49000" });
      await agent.runOnce();
      const insert = (key: string, qty: string) =>
        db.query(
          `insert into orders (exchange_id, symbol, side, type, qty, price, idempotency_key,
                               client_order_id)
           values ('binance', 'BTC/USDT', 'sell', 'limit', $2, 60000, $1, $1)`,
          [key, qty],
        );
      await insert("s1", "0.006");
      await assert.rejects(
        insert("s2", "0.005"),
        /Cannot place order "s2": sell of 0\.005 exceeds the 0\.01 BTC held \(0\.006 already being sold\)/,
      );
      // Two at once (separate connections on PostgreSQL): the lock lets only one through.
      const both = await Promise.allSettled([insert("s3", "0.004"), insert("s4", "0.004")]);
      assert.deepEqual(both.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
      assert.equal(await count(db, "select 1 from orders where side = 'sell'"), 2);
    }),
});
