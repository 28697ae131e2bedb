/**
 * An alert whose only order was refused before reaching the book (429, maintenance) was never
 * traded: an error before its next order is recorded sends it back to RECEIVED, and so does a
 * restart. Before, such an alert stayed PROCESSING for ever.
 */
import assert from "node:assert/strict";
import {
  alertOf,
  executionSetup,
  insertAlert,
  testConfig,
  withLive,
} from "../../helpers/execution.ts";
import { createExecutionAgent } from "../../../execution/agent.ts";
import { systemClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;

/**
 * Makes every read of the open position fail for real (a missing relation: an error that
 * waiting does not cure), until the returned function puts the table back.
 */
async function breakPositions(db: Db): Promise<() => Promise<void>> {
  await db.exec("alter table positions rename to positions_away");
  return () => db.exec("alter table positions_away rename to positions");
}

Deno.test({
  ...opts,
  name: "an alert whose earlier order was refused with a 429 is RECEIVED again after a DB blip",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      fake.fail("429");
      const id = await insertAlert(db, { idempotencyKey: "blip-1", qty: "0.001" });
      assert.equal((await agent.runOnce()).deferred, 1);
      // The pause is over (a fresh agent); the next attempt fails before its order is recorded.
      await executionSetup(db, exchange);
      const fresh = createExecutionAgent({
        db,
        exchange,
        clock: systemClock,
        log: logger("test"),
        config: testConfig,
      });
      const restore = await breakPositions(db);
      await assert.rejects(() => fresh.runOnce(), /positions/);
      await restore();
      assert.equal((await alertOf(db, id)).status, "RECEIVED");
      assert.equal((await fresh.runOnce()).executed, 1);
      assert.equal(fake.orders.length, 1);
    }),
});

Deno.test({
  ...opts,
  name: "at restart an alert left PROCESSING with only a refused, unfilled order is RECEIVED again",
  fn: () =>
    withLive(async ({ db, agent }) => {
      const id = await insertAlert(db, { idempotencyKey: "restart-1", qty: "0.001" });
      await db.query("update inbound_alerts set status = 'PROCESSING' where id = $1", [id]);
      await db.query(
        `insert into orders (exchange_id, symbol, side, qty, ref_price, status, idempotency_key,
                             client_order_id, alert_id)
         values ('binance', 'BTC/USDT', 'buy', 0.001, 50000, 'REJECTED', 'restart-1', 'r-1', $1)`,
        [id],
      );
      const other = await insertAlert(db, { idempotencyKey: "restart-2", qty: "0.001" });
      await db.query("update inbound_alerts set status = 'PROCESSING' where id = $1", [other]);
      await db.query(
        `insert into orders (exchange_id, symbol, side, qty, ref_price, status, idempotency_key,
                             client_order_id, alert_id)
         values ('binance', 'BTC/USDT', 'buy', 0.001, 50000, 'UNKNOWN', 'restart-2', 'r-2', $1)`,
        [other],
      );
      assert.equal(await agent.recover(), 1);
      assert.equal((await alertOf(db, id)).status, "RECEIVED");
      assert.equal((await alertOf(db, other)).status, "PROCESSING", "an UNKNOWN order waits");
    }),
});

Deno.test({
  ...opts,
  name: "an alert that keeps failing for a non-temporary reason is set aside and others go on",
  fn: () =>
    withLive(async ({ db, fake, exchange }) => {
      await executionSetup(db, exchange);
      const bad = await insertAlert(db, { idempotencyKey: "poison-1", qty: "0.001" });
      const agent = createExecutionAgent({
        db,
        exchange,
        clock: systemClock,
        log: logger("test"),
        config: testConfig,
      });
      const restore = await breakPositions(db);
      for (let i = 1; i < 5; i++) {
        await assert.rejects(() => agent.runOnce(), /positions/);
        assert.equal((await alertOf(db, bad)).status, "RECEIVED", `after failure ${i}`);
      }
      assert.equal((await agent.runOnce()).rejected, 1, "the 5th failure sets it aside");
      await restore();
      const row = await alertOf(db, bad);
      assert.equal(row.status, "FAILED");
      assert.match(row.error ?? "", /Not executed after 5 failed attempts: .*positions/);
      const [warn] = await db.query<{ n: number }>(
        "select count(*)::int as n from notification_outbox where kind = 'decision_failed'",
      );
      assert.equal(warn.n, 1);
      const good = await insertAlert(db, { idempotencyKey: "after-poison", qty: "0.001" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, good)).status, "EXECUTED");
      assert.equal(fake.orders.length, 1, "only the good alert reached the exchange");
    }),
});
