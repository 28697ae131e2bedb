/**
 * An exchange whose trades come without ids (ccxt leaves a trade's `id` undefined on some
 * exchanges), through the real ccxt client against the fake exchange answering that way: a
 * market order filled in several trades, a resting limit filled in parts over several passes,
 * an order seen first without trade ids and then with them, and an order whose trades are not
 * shown at all. Every fill is recorded once: the position and the ledger hold what the exchange
 * bought and sold, never less and never more.
 */
import assert from "node:assert/strict";
import { insertAlert, withLive } from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import type { Db } from "../../../db/db.ts";
import type { FakeExchange } from "../../fakes/exchange.ts";
import { limits } from "../../../core/limits.ts";

const opts = serviceTest;

const orderOf = async (db: Db, side: "buy" | "sell" = "buy") =>
  (await db.query<{ client_order_id: string; status: string; filled_qty: string }>(
    `select client_order_id, status, filled_qty::text from orders where side = $1
      order by id desc limit 1`,
    [side],
  ))[0];

const held = async (db: Db) =>
  Number(
    (await db.query<{ qty: string }>(
      "select coalesce(sum(qty), 0)::text as qty from positions where status = 'OPEN'",
    ))[0].qty,
  );

/** The ledger's BTC and USDT against the exchange's balances (10000 USDT at the start). */
async function expectLedgerIsExchange(db: Db, fake: FakeExchange, fees = true) {
  const legs = await db.query<{ asset: string; sum: string }>(
    "select asset, sum(amount)::text as sum from transactions group by asset",
  );
  const ledger = Object.fromEntries(legs.map((l) => [l.asset, Number(l.sum)]));
  assert.ok(
    Math.abs((ledger.BTC ?? 0) - fake.balance("BTC")) < 1e-9,
    `ledger BTC ${ledger.BTC}, exchange ${fake.balance("BTC")}`,
  );
  if (!fees) return;
  assert.ok(
    Math.abs((ledger.USDT ?? 0) - (fake.balance("USDT") - 10_000)) < 1e-6,
    `ledger USDT ${ledger.USDT}, exchange ${fake.balance("USDT") - 10_000}`,
  );
}

Deno.test({
  ...opts,
  name: "a market buy and its exit, each filled in two trades without ids, are recorded whole",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.showTrades("no-ids");
      fake.splitMarketFills(2);
      await insertAlert(db, { qty: "0.002", sl: "45000" });
      await agent.runOnce();
      assert.equal(fake.trades.length, 2);
      const buy = await orderOf(db);
      assert.deepEqual([buy.status, Number(buy.filled_qty)], ["FILLED", 0.002]);
      assert.equal(await held(db), 0.002, "the position holds both trades");
      await expectLedgerIsExchange(db, fake);
      const [e] = await db.query<{ price: string }>("select price::text from executions");
      assert.equal(Number(e.price), 50000.005, "the average of 50000 and 50000.01");
      // Later passes change nothing.
      await agent.reconcileOnce();
      await agent.reconcileOnce();
      assert.equal(await held(db), 0.002);
      // The exit sells all of it, again in two trades.
      await insertAlert(db, { action: "sell" });
      await agent.runOnce();
      const sell = await orderOf(db, "sell");
      assert.deepEqual([sell.status, Number(sell.filled_qty)], ["FILLED", 0.002]);
      assert.equal(await held(db), 0, "the position is closed");
      assert.ok(fake.balance("BTC") < 1e-12);
      await expectLedgerIsExchange(db, fake);
    }),
});

Deno.test({
  ...opts,
  name: "a resting limit filled in parts over several passes, trades without ids, counts each once",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.showTrades("no-ids");
      await insertAlert(db, { qty: "0.003", price: "49000", sl: "45000" });
      await agent.runOnce();
      const { client_order_id: cid } = await orderOf(db);
      for (const [part, want] of [[1, 0.001], [2, 0.002], [3, 0.003]]) {
        fake.fillPart(cid, "0.001");
        await agent.reconcileOnce();
        await agent.reconcileOnce();
        const o = await orderOf(db);
        assert.equal(Number(o.filled_qty), want, `after part ${part}`);
        assert.equal(o.status, part < 3 ? "PARTIALLY_FILLED" : "FILLED");
        assert.equal(await held(db), want, `the position after part ${part}`);
        await expectLedgerIsExchange(db, fake);
      }
    }),
});

Deno.test({
  ...opts,
  name: "an order seen with trades without ids, then with their ids, counts no trade twice",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.showTrades("no-ids");
      await insertAlert(db, { qty: "0.003", price: "49000", sl: "45000" });
      await agent.runOnce();
      const { client_order_id: cid } = await orderOf(db);
      fake.fillPart(cid, "0.001");
      await agent.reconcileOnce();
      assert.equal(await held(db), 0.001);
      // The exchange shows trade ids from now on (the first trade's included).
      fake.showTrades("ids");
      fake.fillPart(cid, "0.001");
      await agent.reconcileOnce();
      assert.equal(await held(db), 0.002, "the first trade is not counted again by its id");
      fake.fillPart(cid, "0.001");
      await agent.reconcileOnce();
      const o = await orderOf(db);
      assert.deepEqual([o.status, Number(o.filled_qty)], ["FILLED", 0.003]);
      assert.equal(await held(db), 0.003);
      await expectLedgerIsExchange(db, fake);
    }),
});

Deno.test({
  ...opts,
  name: "an order filled without any trade shown is recorded from its totals after a few lookups",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.showTrades("hidden");
      await insertAlert(db, { qty: "0.002", sl: "45000" });
      // The order's answer is the first lookup, each reconcile pass another.
      await agent.runOnce();
      for (let i = 1; i < limits.untradedFillLookups; i++) {
        assert.equal(await held(db), 0, `lookup ${i} waits for the trades`);
        assert.equal((await orderOf(db)).status, "PARTIALLY_FILLED");
        await agent.reconcileOnce();
      }
      const o = await orderOf(db);
      assert.deepEqual([o.status, Number(o.filled_qty)], ["FILLED", 0.002]);
      assert.equal(await held(db), 0.002);
      // Binance's order states no fee: the BTC is all there, the fee in USDT is not known.
      await expectLedgerIsExchange(db, fake, false);
      const [e] = await db.query<{ price: string; fee: string }>(
        "select price::text, fee::text from executions",
      );
      assert.deepEqual([Number(e.price), Number(e.fee)], [50000, 0]);
      await agent.reconcileOnce();
      assert.equal(await held(db), 0.002);
    }),
});

Deno.test({
  ...opts,
  name: "trades late to show are recorded from the trades, with their ids and fees",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.showTrades("hidden");
      fake.splitMarketFills(2);
      await insertAlert(db, { qty: "0.002", sl: "45000" });
      await agent.runOnce();
      assert.equal(await held(db), 0);
      fake.showTrades("ids");
      await agent.reconcileOnce();
      assert.equal(await held(db), 0.002);
      const ids = await db.query<{ exchange_trade_id: string }>(
        "select exchange_trade_id from executions order by id",
      );
      assert.deepEqual(ids.map((r) => r.exchange_trade_id), fake.trades.map((t) => String(t.id)));
      await expectLedgerIsExchange(db, fake);
    }),
});
