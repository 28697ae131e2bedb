/**
 * A create refused with an error code nobody knows may still have placed the order: it is
 * recorded REJECTED but looked at again for a day, and a fill that turns up is recorded.
 * A clearly final refusal (below the minimum notional) is not rechecked.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { count, executionSetup, insertAlert, liveExchange } from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name: "an order refused with an unknown error code is rechecked and recorded if it was placed",
  fn: async () => {
    const t = await testDb();
    const db = t.db;
    const fake = startFakeExchange();
    const exchange = await liveExchange(fake);
    try {
      const agent = await executionSetup(db, exchange, { givenUpRecheckMs: 0 });
      fake.fail("odd");
      await insertAlert(db, { idempotencyKey: "odd-1", qty: "0.001", sl: "49000" });
      assert.equal((await agent.runOnce()).rejected, 1);
      // A final refusal: the exchange's minimum is higher than our stale copy (-1013).
      await db.query(
        `update exchange_instruments set trading_rules = trading_rules || '{"min_notional": "1"}'`,
      );
      await insertAlert(db, { idempotencyKey: "final-1", qty: "0.00005", sl: "40000" });
      assert.equal((await agent.runOnce()).rejected, 1);
      const misses = await db.query<{ idempotency_key: string; reconcile_misses: number }>(
        "select idempotency_key, reconcile_misses from orders order by id",
      );
      assert.deepEqual(misses.map((o) => [o.idempotency_key, o.reconcile_misses > 0]), [
        ["odd-1", true],
        ["final-1", false],
      ]);
      await agent.reconcileOnce();
      const [o] = await db.query<{ status: string }>(
        "select status from orders where idempotency_key = 'odd-1'",
      );
      assert.equal(o.status, "FILLED", "the order was placed after all");
      assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 1);
      assert.equal(
        await count(db, "select 1 from notification_outbox where kind = 'order_found_late'"),
        1,
      );
    } finally {
      await exchange.close?.();
      await fake.close();
      await t.close();
    }
  },
});
