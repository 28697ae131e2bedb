/**
 * What goes wrong between the agent and the exchange: refusals, timeouts' cousins (5xx), rate
 * limits, maintenance, and orders whose outcome stays unknown. Through the real ccxt client
 * against the fake Binance, on PGlite or the real PostgreSQL (TEST_DATABASE_URL).
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import {
  alertOf,
  count,
  executionSetup,
  insertAlert,
  liveExchange,
  testConfig,
  withLive,
} from "../../helpers/execution.ts";
import { clientOrderIdFor } from "../../../execution/plan.ts";
import { createExecutionAgent } from "../../../execution/agent.ts";
import { systemClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;

Deno.test({
  ...opts,
  name: "an order the exchange refuses is stored REJECTED with the reason and a WARN",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      // Our copy of the rules is stale: the exchange's minimum is higher now (-1013).
      await db.query(
        `update exchange_instruments set trading_rules = trading_rules || '{"min_notional": "1"}'`,
      );
      const id = await insertAlert(db, { qty: "0.00005", sl: "40000" });
      const s = await agent.runOnce();
      assert.equal(s.rejected, 1);
      assert.equal(fake.requests["POST order"], 1);
      const [o] = await db.query<{ status: string; reject_reason: string }>(
        "select status, reject_reason from orders",
      );
      assert.equal(o.status, "REJECTED");
      assert.match(o.reject_reason, /NOTIONAL/);
      assert.equal((await alertOf(db, id)).status, "REJECTED");
      assert.equal(
        await count(db, "select 1 from notification_outbox where kind = 'order_rejected'"),
        1,
      );
    }),
});

Deno.test({
  ...opts,
  name: "maintenance pauses entries and keeps the alert; failed lookups never give an order up",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.fail("maintenance");
      const id = await insertAlert(db, { qty: "0.001" });
      const s = await agent.runOnce();
      assert.equal(s.deferred, 1);
      assert.equal(agent.entriesPaused(), true);
      assert.equal((await alertOf(db, id)).status, "RECEIVED");
      assert.equal((await agent.runOnce()).claimed, 0, "entries wait while paused");

      await db.query(
        `insert into orders (exchange_id, symbol, side, qty, ref_price, status, idempotency_key,
                             client_order_id)
         values ('binance', 'BTC/USDT', 'buy', 0.001, 50000, 'UNKNOWN', 'u-1', 'u-1')`,
      );
      fake.maintenance(true);
      // The account waits out the maintenance; the pass goes on (other accounts would be served).
      for (let i = 0; i < 5; i++) {
        assert.equal((await agent.reconcileOnce()).accountsWaiting, 1);
      }
      const [o] = await db.query<{ status: string; reconcile_misses: number }>(
        "select status, reconcile_misses from orders where client_order_id = 'u-1'",
      );
      assert.deepEqual([o.status, o.reconcile_misses], ["UNKNOWN", 0]);
    }),
});

Deno.test({
  ...opts,
  name: "a 5xx on create is an unknown outcome, given up only when lookups keep finding nothing",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.fail("5xx");
      const id = await insertAlert(db, { qty: "0.001" });
      assert.equal((await agent.runOnce()).unknown, 1);
      for (let i = 0; i < 3; i++) await agent.reconcileOnce();
      const [o] = await db.query<{ status: string }>("select status from orders");
      assert.equal(o.status, "REJECTED");
      // Proven never placed: the alert is handed back to be planned again (replan_test.ts).
      assert.equal((await alertOf(db, id)).status, "RECEIVED");
      assert.equal(fake.requests["POST order"], 1);
      assert.equal(fake.orders.length, 0);
    }),
});

Deno.test({
  ...opts,
  name: "a 429 on create pauses entries; the alert is planned again after the pause",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      fake.fail("429");
      const id = await insertAlert(db, { idempotencyKey: "rl-1", qty: "0.001" });
      assert.equal((await agent.runOnce()).deferred, 1);
      assert.equal(agent.entriesPaused(), true);
      assert.equal((await alertOf(db, id)).status, "RECEIVED");
      const [refused] = await db.query<{ status: string; reject_reason: string }>(
        "select status, reject_reason from orders",
      );
      assert.equal(refused.status, "REJECTED");
      assert.match(refused.reject_reason, /Not accepted/);
      // A fresh agent stands for the pause having ended: the decision is planned again.
      const later = await executionSetup(db, exchange);
      assert.equal((await later.runOnce()).executed, 1);
      assert.equal(fake.orders.length, 1);
      assert.equal(fake.orders[0].clientOrderId, clientOrderIdFor("rl-1", 2));
    }),
});

Deno.test({
  ...opts,
  name: "an order UNKNOWN for too long raises a WARN while the exchange cannot be asked",
  fn: async () => {
    const t = await testDb();
    const fake = startFakeExchange();
    const exchange = await liveExchange(fake);
    try {
      await executionSetup(t.db, exchange);
      const agent = createExecutionAgent({
        db: t.db,
        exchange,
        clock: systemClock,
        log: logger("test"),
        config: testConfig,
        tuning: { minAgeMs: 0, unknownWarnMs: 0, unknownCriticalMs: 3_600_000 },
      });
      await t.db.query(
        `insert into orders (exchange_id, symbol, side, qty, ref_price, status, idempotency_key,
                             client_order_id)
         values ('binance', 'BTC/USDT', 'buy', 0.001, 50000, 'UNKNOWN', 'late-1', 'late-1')`,
      );
      fake.maintenance(true);
      for (let i = 0; i < 2; i++) {
        assert.equal((await agent.reconcileOnce()).accountsWaiting, 1);
      }
      assert.equal(
        await count(
          t.db,
          "select 1 from notification_outbox where kind = 'order_unknown' and severity = 'WARN'",
        ),
        1,
      );
    } finally {
      await exchange.close?.();
      await fake.close();
      await t.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "an order given up as never placed that shows up later is recorded and raised CRITICAL",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      fake.fail("5xx");
      await insertAlert(db, { idempotencyKey: "late-2", qty: "0.001" });
      await agent.runOnce();
      for (let i = 0; i < 3; i++) await agent.reconcileOnce();
      const cid = clientOrderIdFor("late-2", 1);
      const [given] = await db.query<{ status: string }>("select status from orders");
      assert.equal(given.status, "REJECTED");
      // The exchange books it after all (a request stuck somewhere on the way).
      await fetch(`${fake.url}/api/v3/order`, {
        method: "POST",
        body: new URLSearchParams({
          symbol: "BTCUSDT",
          side: "BUY",
          type: "MARKET",
          quantity: "0.001",
          newClientOrderId: cid,
        }),
      }).then((r) => r.body?.cancel());
      const later = await executionSetup(db, exchange, { givenUpRecheckMs: 0 });
      await later.reconcileOnce();
      const [o] = await db.query<{ status: string; reject_reason: string | null }>(
        "select status, reject_reason from orders",
      );
      assert.deepEqual([o.status, o.reject_reason], ["FILLED", null]);
      assert.equal(await count(db, "select 1 from executions"), 1);
      assert.equal(
        await count(db, "select 1 from notification_outbox where severity = 'CRITICAL'"),
        1,
      );
      await later.reconcileOnce();
      assert.equal(await count(db, "select 1 from executions"), 1, "recorded once");
    }),
});
