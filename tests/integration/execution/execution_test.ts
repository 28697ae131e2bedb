/**
 * Decision → order, exactly once, through the real ccxt client against the fake Binance.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import {
  alertOf,
  count,
  executionSetup,
  insertAlert,
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
  name:
    "an alert becomes one order with the expected client id, a fill, a position and balanced legs",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      const id = await insertAlert(db, { idempotencyKey: "tv-1", qty: "0.01", sl: "49000" });
      const s = await agent.runOnce();
      assert.equal(s.executed, 1);
      assert.equal(fake.orders.length, 1);
      assert.equal(fake.orders[0].clientOrderId, clientOrderIdFor("tv-1", 1));
      const [o] = await db.query<Record<string, string>>(
        "select status, filled_qty::text, avg_fill_price::text, fee::text, position_id from orders",
      );
      assert.equal(o.status, "FILLED");
      assert.equal(Number(o.filled_qty), 0.01);
      assert.equal(Number(o.avg_fill_price), 50000);
      assert.equal(Number(o.fee), 0.5);
      const [p] = await db.query<Record<string, string>>(
        "select status, qty::text, avg_entry_price::text, stop_price::text, fees::text from positions",
      );
      assert.deepEqual(
        [p.status, Number(p.qty), Number(p.avg_entry_price), Number(p.stop_price)],
        ["OPEN", 0.01, 50000, 49000],
      );
      // The base and quote legs balance at the fill price; the fee is its own leg.
      const legs = await db.query<{ asset: string; kind: string; amount: string }>(
        "select asset, kind, amount::text from transactions where account = 'main' order by id",
      );
      assert.deepEqual(legs.map((l) => [l.asset, l.kind, Number(l.amount)]), [
        ["BTC", "trade", 0.01],
        ["USDT", "trade", -500],
        ["USDT", "fee", -0.5],
      ]);
      assert.equal((await alertOf(db, id)).status, "EXECUTED");
      assert.equal(
        await count(db, "select 1 from notification_outbox where kind = 'order_filled'"),
        1,
      );
    }),
});

Deno.test({
  ...opts,
  name: "50 concurrent identical decisions place one order",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      const ids = [];
      for (let i = 0; i < 50; i++) {
        ids.push(await insertAlert(db, { idempotencyKey: "same-key", qty: "0.001" }));
      }
      // Several passes at once, as several workers (or wake-ups) would run them.
      await Promise.all(Array.from({ length: 5 }, () => agent.runOnce().catch(() => {})));
      while ((await count(db, "select 1 from inbound_alerts where status = 'RECEIVED'")) > 0) {
        await agent.runOnce();
      }
      assert.equal(fake.requests["POST order"], 1);
      assert.equal(await count(db, "select 1 from orders"), 1);
      const statuses = await db.query<{ status: string; n: number }>(
        "select status, count(*)::int as n from inbound_alerts group by status order by status",
      );
      assert.deepEqual(statuses.map((r) => [r.status, r.n]), [["DUPLICATE", 49], ["EXECUTED", 1]]);
    }),
});

Deno.test({
  ...opts,
  name: "a timeout on create leaves the order UNKNOWN and reconciliation settles it, not resends",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.fail("hang");
      const id = await insertAlert(db, { idempotencyKey: "slow-1", qty: "0.002" });
      const s = await agent.runOnce();
      assert.equal(s.unknown, 1);
      const [before] = await db.query<{ status: string }>("select status from orders");
      assert.equal(before.status, "UNKNOWN");
      assert.equal((await alertOf(db, id)).status, "PROCESSING");
      const r = await agent.reconcileOnce();
      assert.equal(r.settled, 1);
      const [after] = await db.query<{ status: string; filled_qty: string }>(
        "select status, filled_qty::text from orders",
      );
      assert.equal(after.status, "FILLED");
      assert.equal(Number(after.filled_qty), 0.002);
      assert.equal(await count(db, "select 1 from executions"), 1);
      assert.equal(fake.requests["POST order"], 1, "the order was never sent twice");
      assert.equal((await alertOf(db, id)).status, "EXECUTED");
      // Evidence applied twice changes nothing.
      await db.query("update orders set status = 'UNKNOWN'");
      await agent.reconcileOnce();
      assert.equal(await count(db, "select 1 from transactions"), 3);
    }, 300),
});

Deno.test({
  ...opts,
  name: "an order recorded but never sent is given up only after several lookups, never resent",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      // The process died between "order recorded" and the exchange call.
      const id = await insertAlert(db, { idempotencyKey: "crash-1", qty: "0.001" });
      await db.query("update inbound_alerts set status = 'PROCESSING' where id = $1", [id]);
      await db.query(
        `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key,
                             client_order_id, alert_id)
         values ('binance', 'BTC/USDT', 'buy', 0.001, 50000, 'crash-1', $1, $2)`,
        [clientOrderIdFor("crash-1", 1), id],
      );
      assert.equal(await agent.recover(), 0, "an alert with an order waits for reconciliation");
      await agent.reconcileOnce();
      await agent.reconcileOnce();
      const [mid] = await db.query<{ status: string; reconcile_misses: number }>(
        "select status, reconcile_misses from orders",
      );
      assert.deepEqual([mid.status, mid.reconcile_misses], ["NEW", 2]);
      await agent.reconcileOnce();
      const [o] = await db.query<{ status: string; reject_reason: string }>(
        "select status, reject_reason from orders",
      );
      assert.equal(o.status, "REJECTED");
      assert.match(o.reject_reason, /never placed/);
      // Handed back to be planned again under a new client order id (replan_test.ts).
      assert.equal((await alertOf(db, id)).status, "RECEIVED");
      assert.equal(fake.requests["POST order"], undefined);
    }),
});

Deno.test({
  ...opts,
  name: "an order sent just before a crash is found by client id at restart and recorded once",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      const cid = clientOrderIdFor("crash-2", 1);
      const id = await insertAlert(db, { idempotencyKey: "crash-2", qty: "0.001" });
      await db.query("update inbound_alerts set status = 'PROCESSING' where id = $1", [id]);
      await db.query(
        `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key,
                             client_order_id, alert_id)
         values ('binance', 'BTC/USDT', 'buy', 0.001, 50000, 'crash-2', $1, $2)`,
        [cid, id],
      );
      // The exchange booked it; the answer never reached the database.
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
      await agent.recover();
      await agent.runOnce();
      await agent.reconcileOnce();
      await agent.reconcileOnce();
      const [o] = await db.query<{ status: string }>("select status from orders");
      assert.equal(o.status, "FILLED");
      assert.equal(await count(db, "select 1 from executions"), 1);
      assert.equal(fake.orders.length, 1);
      assert.equal((await alertOf(db, id)).status, "EXECUTED");
    }),
});

Deno.test({
  ...opts,
  name: "below the minimum notional, for the entry or its stop exit, is refused before sending",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      const tiny = await insertAlert(db, { qty: "0.00001", sl: "49000" });
      // 0.0001 × 50000 = 5 USDT meets the minimum, but the stop exit at 49000 is 4.90.
      const exit = await insertAlert(db, { qty: "0.0001", sl: "49000" });
      await agent.runOnce();
      assert.match(
        (await alertOf(db, tiny)).error ?? "",
        /notional 0\.5 USDT is below the minimum 5/,
      );
      assert.match(
        (await alertOf(db, exit)).error ?? "",
        /stop exit of 0\.00009 at 49000 would be 4\.41 USDT/,
      );
      assert.equal((await alertOf(db, exit)).status, "REJECTED");
      assert.equal(fake.requests["POST order"], undefined);
      assert.equal(await count(db, "select 1 from orders"), 0);
      assert.equal(
        await count(db, "select 1 from notification_outbox where severity = 'WARN'"),
        2,
      );
    }),
});

Deno.test({
  ...opts,
  name: "a sell closes the open position with its realized PnL; a sell without one is refused",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      const warnings = () =>
        count(db, "select 1 from notification_outbox where kind = 'decision_rejected'");
      const none = await insertAlert(db, { action: "sell" }, "pine");
      await agent.runOnce();
      assert.match((await alertOf(db, none)).error ?? "", /no open BTC\/USDT position/);
      assert.equal(await warnings(), 1, "a TradingView sell with nothing to sell is a WARN");
      // The built-in strategy emits an exit on every downward cross: flat is normal there.
      const flat = await insertAlert(db, { action: "sell" }, "strategy");
      await agent.runOnce();
      assert.equal((await alertOf(db, flat)).status, "REJECTED");
      assert.equal(await warnings(), 1, "no WARN for the strategy's exit when flat");
      await insertAlert(db, { qty: "0.01", sl: "49000" });
      await agent.runOnce();
      fake.setPrice("BTCUSDT", "51000");
      await insertAlert(db, { action: "sell" });
      await agent.runOnce();
      const [p] = await db.query<{ status: string; qty: string; realized_pnl: string }>(
        "select status, qty::text, realized_pnl::text from positions",
      );
      assert.equal(p.status, "CLOSED");
      assert.equal(Number(p.qty), 0);
      // 0.01 × (51000 − 50000) − 0.51 fee of the sell − 0.5 fee of the buy.
      assert.equal(Number(p.realized_pnl), 8.99);
    }),
});

Deno.test({
  ...opts,
  name: "a resting limit order is OPEN until the reconciler sees it filled on the exchange",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      const id = await insertAlert(db, { qty: "0.001", price: "49000", sl: "45000" });
      await agent.runOnce();
      const [open] = await db.query<{ status: string; type: string }>(
        "select status, type from orders",
      );
      assert.deepEqual([open.status, open.type], ["OPEN", "limit"]);
      assert.equal((await alertOf(db, id)).status, "EXECUTED");
      assert.equal(
        await count(db, "select 1 from notification_outbox where kind = 'order_placed'"),
        1,
      );
      await agent.reconcileOnce();
      assert.equal(await count(db, "select 1 from executions"), 0, "nothing filled yet");
      fake.setPrice("BTCUSDT", "48900");
      await agent.reconcileOnce();
      const [o] = await db.query<{ status: string; avg_fill_price: string }>(
        "select status, avg_fill_price::text from orders",
      );
      assert.deepEqual([o.status, Number(o.avg_fill_price)], ["FILLED", 49000]);
      const [p] = await db.query<{ qty: string }>("select qty::text from positions");
      assert.equal(Number(p.qty), 0.001);
    }),
});

Deno.test({
  ...opts,
  name: "an entry signal older than SIGNAL_MAX_AGE_S is not traded; a late exit still is",
  fn: () =>
    withLive(async ({ db, fake, exchange }) => {
      const agent = await executionSetup(db, exchange);
      const strict = createExecutionAgent({
        db,
        exchange,
        clock: systemClock,
        log: logger("test"),
        config: { ...testConfig, risk: { perTradePct: 1, signalMaxAgeS: 60 } },
      });
      const old = new Date(Date.now() - 10 * 60_000).toISOString();
      const stale = await insertAlert(db, { qty: "0.01", sl: "49000", ts: old }, "pine");
      await strict.runOnce();
      assert.equal((await alertOf(db, stale)).status, "REJECTED");
      assert.match((await alertOf(db, stale)).error ?? "", /over SIGNAL_MAX_AGE_S=60/);
      assert.equal(fake.orders.length, 0, "nothing reached the exchange");

      const fresh = await insertAlert(db, {
        qty: "0.01",
        sl: "49000",
        ts: new Date().toISOString(),
      }, "pine");
      await strict.runOnce();
      assert.equal((await alertOf(db, fresh)).status, "EXECUTED");
      const exit = await insertAlert(db, { action: "sell", ts: old }, "pine");
      await strict.runOnce();
      assert.equal((await alertOf(db, exit)).status, "EXECUTED", "closing late beats staying open");
      assert.equal(fake.orders.length, 2);
      await agent.runOnce();
    }),
});

Deno.test({
  ...opts,
  name: "a strategy buy that waited past SIGNAL_MAX_AGE_S since it was stored is not traded",
  fn: () =>
    withLive(async ({ db, fake, exchange }) => {
      await executionSetup(db, exchange);
      const strict = createExecutionAgent({
        db,
        exchange,
        clock: systemClock,
        log: logger("test"),
        config: { ...testConfig, risk: { perTradePct: 1, signalMaxAgeS: 60 } },
      });
      // A strategy decision's ts is its candle's open time, a period before the close that
      // emitted it: an hourly candle's buy stored just now is fresh.
      const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
      const fresh = await insertAlert(db, { qty: "0.01", sl: "49000", ts: hourAgo }, "strategy");
      await strict.runOnce();
      assert.equal((await alertOf(db, fresh)).status, "EXECUTED");
      // Stored RECEIVED ten minutes ago, before a crash: at today's price it is not traded.
      const waited = await insertAlert(db, { qty: "0.01", sl: "49000", ts: hourAgo }, "strategy");
      await db.query(
        "update inbound_alerts set received_at = now() - interval '10 minutes' where id = $1",
        [waited],
      );
      await strict.runOnce();
      assert.equal((await alertOf(db, waited)).status, "REJECTED");
      assert.match((await alertOf(db, waited)).error ?? "", /over SIGNAL_MAX_AGE_S=60/);
      assert.equal(fake.orders.length, 1, "only the fresh buy reached the exchange");
    }),
});
