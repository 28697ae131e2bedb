/**
 * One order whose fill cannot be recorded must not stop the others being reconciled: it goes
 * to the back of the queue with one CRITICAL notification, and the pass carries on. A maker
 * rebate (a negative fee) is recorded as the credit it is.
 */
import assert from "node:assert/strict";
import { count, insertAlert, withLive } from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;

Deno.test({
  ...opts,
  name: "a fill that cannot be recorded is raised once and does not block the other orders",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.fail("hang", 2);
      await insertAlert(db, { qty: "0.001", sl: "49000" });
      await insertAlert(db, { qty: "0.002", sl: "49000" });
      assert.equal((await agent.runOnce()).unknown, 2);
      const [a, b] = await db.query<{ client_order_id: string }>(
        "select client_order_id from orders order by id",
      );
      const tradeOf = (cid: string) => {
        const o = fake.orders.find((o) => o.clientOrderId === cid)!;
        return fake.trades.find((t) => t.orderId === o.orderId)!;
      };
      tradeOf(a.client_order_id).price = "0"; // a trade without a usable price: never recordable
      tradeOf(b.client_order_id).commission = "-0.05"; // a maker rebate
      for (let pass = 0; pass < 2; pass++) await agent.reconcileOnce();
      const orders = await db.query<
        { status: string; qty: string; fee: string; checked_at: Date | null }
      >(
        "select status, qty::text, fee::text, checked_at from orders order by id",
      );
      assert.equal(orders[0].status, "UNKNOWN");
      assert.ok(orders[0].checked_at, "the broken order goes to the back of the queue");
      assert.deepEqual([orders[1].status, Number(orders[1].fee)], ["FILLED", -0.05]);
      const [p] = await db.query<{ qty: string; fees: string }>(
        "select qty::text, fees::text from positions",
      );
      assert.deepEqual([Number(p.qty), Number(p.fees)], [Number(orders[1].qty), -0.05]);
      assert.equal(
        await count(
          db,
          "select 1 from notification_outbox where kind = 'order_apply_failed' and severity = 'CRITICAL'",
        ),
        1,
      );
    }, 500),
});
