/**
 * Trailing stops through the real ccxt client against the fake Binance (BTCUSDT at 100 here):
 * the Risk agent raises the position's stop with the price, never down and by at least the
 * step, and the protector replaces the resting STOP_LOSS_LIMIT (cancel, then the next attempt
 * under a new client order id) — one stop resting at a time, one sell at the end. Also the
 * generic replacement after a second buy, and the race of a stop filling while its replacement's
 * cancel waits. Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite
 * otherwise.
 */
import assert from "node:assert/strict";
import {
  count,
  executionSetup,
  insertAlert,
  liveExchange,
  paperExchange,
  protectedConfig,
} from "../../helpers/execution.ts";
import { testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { type FakeExchange, startFakeExchange } from "../../fakes/exchange.ts";
import { clientOrderIdFor } from "../../../execution/plan.ts";
import { protectiveKey } from "../../../execution/protective.ts";
import { upsertStrategy } from "../../../signals/strategies.ts";
import { createRiskAgent } from "../../../risk/watch.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";

type Setup = {
  db: Db;
  fake: FakeExchange;
  agent: Awaited<ReturnType<typeof executionSetup>>;
  risk: ReturnType<typeof createRiskAgent>;
};

/** The service's execution agent (stops on the exchange) and Risk agent over one fake. */
async function withTrail(fn: (s: Setup) => Promise<void>) {
  const t = await testDb();
  const fake = startFakeExchange({ markets: [{ symbol: "BTCUSDT", price: "100" }] });
  const exchange = await liveExchange(fake);
  try {
    const agent = await executionSetup(t.db, exchange, {}, protectedConfig);
    const risk = createRiskAgent({ db: t.db, exchange, log: logger("test") });
    // A target far away: the trail alone ends these positions.
    await upsertStrategy(t.db, "swing", {
      trail_pct: "2",
      trail_activation_pct: "1",
      take_profit_pct: "50",
    });
    await fn({ db: t.db, fake, agent, risk });
  } finally {
    await exchange.close?.();
    await fake.close();
    await t.close();
  }
}

const stopsOn = (fake: FakeExchange) => fake.orders.filter((o) => o.type === "STOP_LOSS_LIMIT");
const openStops = (fake: FakeExchange) => stopsOn(fake).filter((o) => o.status === "NEW");

const position = async (db: Db) =>
  (await db.query<{
    id: number;
    status: string;
    qty: string;
    stop_price: string;
    trail_pct: string | null;
    trail_activation_pct: string;
    high_water_price: string;
    opened_at: Date;
  }>(
    `select id, status, qty::text, stop_price::text, trail_pct::text,
            trail_activation_pct::text, high_water_price::text, opened_at
       from positions order by id desc limit 1`,
  ))[0];

const notes = (db: Db, kind: string) =>
  db.query<{ severity: string; text: string }>(
    "select severity, text from notification_outbox where kind = $1 order by id",
    [kind],
  );

/**
 * One price: the fake moves (and fills what it reaches), the Risk agent's pass, then the
 * reconcile passes that ask for the stale stop's cancel, send it, record it and place the new
 * stop. Asserts that at no point two stops rest.
 */
async function tick({ fake, agent, risk }: Setup, price: string) {
  fake.setPrice("BTCUSDT", price);
  await risk.runOnce();
  for (let i = 0; i < 3; i++) {
    await agent.reconcileOnce();
    assert.ok(openStops(fake).length <= 1, `two stops resting at ${price}`);
  }
}

Deno.test({
  ...serviceTest,
  name: "a rising then falling price moves the trailing stop up only, by the step, and exits once",
  fn: () =>
    withTrail(async (s) => {
      const { db, fake, agent } = s;
      await insertAlert(db, { strategy: "swing", qty: "1", sl: "95" });
      assert.equal((await agent.runOnce()).executed, 1);
      let p = await position(db);
      assert.deepEqual(
        [p.trail_pct, p.trail_activation_pct, p.high_water_price, p.stop_price].map(Number),
        [2, 1, 100, 95],
      );
      assert.deepEqual(openStops(fake).map((o) => o.stopPrice), ["95.00000000"]);

      // 100.5: below the activation (101), 110.4: a rise smaller than the step (0.5 % of
      // 107.8 is 108.34; 2 % below 110.4 is 108.19): neither makes a new order.
      const stopsAfter: Record<string, number> = {};
      for (const price of ["100.5", "101", "103", "106", "110", "110.4", "109", "108.5"]) {
        await tick(s, price);
        stopsAfter[price] = stopsOn(fake).length;
      }
      assert.deepEqual(stopsAfter, {
        "100.5": 1,
        "101": 2,
        "103": 3,
        "106": 4,
        "110": 5,
        "110.4": 5,
        "109": 5,
        "108.5": 5,
      });
      const stops = stopsOn(fake);
      const levels = stops.map((o) => Number(o.stopPrice));
      assert.deepEqual(levels, [95, 98.98, 100.94, 103.88, 107.8]);
      for (let i = 1; i < levels.length; i++) {
        assert.ok(levels[i] >= levels[i - 1] * 1.005, `stop ${i} moved by at least the step`);
      }
      p = await position(db);
      assert.equal(Number(p.stop_price), 107.8);
      assert.equal(Number(p.high_water_price), 110.4);
      // Each attempt under its own client order id; every replaced one cancelled on the fake.
      assert.deepEqual(
        stops.map((o) => o.clientOrderId),
        [1, 2, 3, 4, 5].map((n) => clientOrderIdFor(protectiveKey(p), n)),
      );
      assert.deepEqual(stops.map((o) => o.status), [
        "CANCELED",
        "CANCELED",
        "CANCELED",
        "CANCELED",
        "NEW",
      ]);
      const moves = await db.query<{ status: string; params: Record<string, string> }>(
        "select status, params from risk_actions where kind = 'trailing_stop' order by id",
      );
      assert.deepEqual(moves.map((m) => [m.status, Number(m.params.from), Number(m.params.to)]), [
        ["DONE", 95, 98.98],
        ["DONE", 98.98, 100.94],
        ["DONE", 100.94, 103.88],
        ["DONE", 103.88, 107.8],
      ]);

      // Through the trailed stop (107.8; its limit 107.26): the exchange's stop sells, once.
      await tick(s, "107.5");
      await tick(s, "107");
      await agent.runOnce();
      p = await position(db);
      assert.equal(p.status, "CLOSED");
      const sells = fake.orders.filter((o) => o.side === "SELL" && o.status === "FILLED");
      assert.deepEqual(sells.map((o) => o.clientOrderId), [stops[4].clientOrderId]);
      assert.equal(fake.trades.filter((t) => !t.isBuyer).length, 1);
      assert.equal(await count(db, "select 1 from positions where status = 'CLOSED'"), 1);
      const legs = await db.query<{ asset: string; kind: string; amount: string }>(
        `select t.asset, t.kind, t.amount::text from transactions t
           join orders o on o.id = t.order_id where o.side = 'sell' order by t.id`,
      );
      assert.deepEqual(legs.map((l) => [l.asset, l.kind, Number(l.amount)]), [
        ["BTC", "trade", -1],
        ["USDT", "trade", 107.5],
        ["USDT", "fee", -0.1075],
      ]);

      // The operator heard the trail start once, and nothing of the routine replacements.
      const trail = await notes(db, "trailing_stop");
      assert.equal(trail.length, 1);
      assert.match(trail[0].text, /Trailing stop of BTC\/USDT .* 95 → 98\.98/);
      assert.equal((await notes(db, "protective_stop")).length, 0);
      assert.equal((await notes(db, "control_action")).length, 0);
      // The first stop's placement is told; its four replacements are not.
      const placed = await notes(db, "order_placed");
      assert.equal(placed.length, 1, placed.map((n) => n.text).join("\n"));
      assert.match(placed[0].text, /stop_limit sell/);
      const replaced = await db.query<{ error: string }>(
        `select r.error from risk_actions r join orders o on o.id = r.order_id
          where r.kind = 'stop_loss' and r.status = 'FAILED' order by r.id`,
      );
      assert.deepEqual(
        replaced.map((r) => r.error),
        Array(4).fill("canceled on the exchange to be replaced"),
      );
    }),
});

Deno.test({
  ...serviceTest,
  name: "an alert's trail_pct wins over its strategy's",
  fn: () =>
    withTrail(async (s) => {
      const { db, fake, agent } = s;
      await insertAlert(db, { strategy: "swing", qty: "1", sl: "95", trailPct: "5" });
      await agent.runOnce();
      const p = await position(db);
      assert.deepEqual([Number(p.trail_pct), Number(p.trail_activation_pct)], [5, 1]);
      await tick(s, "110");
      // 5 % below 110, not the strategy's 2 % (107.8).
      assert.deepEqual(openStops(fake).map((o) => Number(o.stopPrice)), [104.5]);
      assert.equal(Number((await position(db)).stop_price), 104.5);
    }),
});

Deno.test({
  ...serviceTest,
  name: "the old stop filling while its replacement's cancel waits: one sell, nothing re-placed",
  fn: () =>
    withTrail(async (s) => {
      const { db, fake, agent, risk } = s;
      await insertAlert(db, { strategy: "swing", qty: "1", sl: "95" });
      await agent.runOnce();
      fake.setPrice("BTCUSDT", "101");
      await risk.runOnce();
      await agent.reconcileOnce();
      const [request] = await db.query<{ status: string; requested_by: string }>(
        "select status, requested_by from cancel_requests",
      );
      assert.deepEqual(request, { status: "PENDING", requested_by: "protect:replace" });
      // Before the cancel is sent, the price falls through the old stop (95, limit 94.52).
      fake.setPrice("BTCUSDT", "94.9");
      assert.equal(stopsOn(fake)[0].status, "FILLED");
      // The software watch sees the price below the raised stop and hands an exit over; it
      // waits for the same cancel.
      assert.equal((await risk.runOnce()).handed, 1);
      for (let i = 0; i < 3; i++) {
        await agent.runOnce();
        await agent.reconcileOnce();
      }
      assert.equal((await position(db)).status, "CLOSED");
      assert.equal(stopsOn(fake).length, 1, "no replacement placed");
      assert.equal(fake.orders.filter((o) => o.side === "SELL").length, 1, "one sell");
      assert.equal(fake.trades.filter((t) => !t.isBuyer).length, 1);
      assert.equal(
        await count(
          db,
          "select 1 from executions e join orders o on o.id = e.order_id where o.side = 'sell'",
        ),
        1,
      );
      assert.deepEqual(
        (await db.query<{ status: string }>(
          "select status from risk_actions where kind = 'stop_loss' and alert_id is null",
        )).map((r) => r.status),
        ["DONE"],
      );
      assert.equal((await notes(db, "control_action")).length, 0);
      // The exit found the position closed by the stop: nothing failed, nothing to warn of.
      await risk.runOnce();
      const [exit] = await db.query<{ status: string }>(
        "select status from risk_actions where kind = 'stop_loss' and alert_id is not null",
      );
      assert.equal(exit.status, "DONE");
      assert.equal((await notes(db, "risk_exit_failed")).length, 0);
      assert.equal((await notes(db, "decision_rejected")).length, 0);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a second buy into a position replaces its resting stop with one of the whole quantity",
  fn: () =>
    withTrail(async (s) => {
      const { db, fake, agent, risk } = s;
      await insertAlert(db, { strategy: "swing", qty: "1", sl: "95" });
      await agent.runOnce();
      // The second alert sets no trail: the position keeps the strategy's.
      await insertAlert(db, { strategy: "swing", qty: "0.5", sl: "95" });
      await agent.runOnce();
      let p = await position(db);
      assert.equal(Number(p.qty), 1.5);
      assert.deepEqual([Number(p.trail_pct), Number(p.trail_activation_pct)], [2, 1]);
      for (let i = 0; i < 3; i++) {
        await agent.reconcileOnce();
        assert.ok(openStops(fake).length <= 1);
      }
      p = await position(db);
      assert.deepEqual(stopsOn(fake).map((o) => [o.clientOrderId, o.origQty, o.status]), [
        [clientOrderIdFor(protectiveKey(p), 1), "1.00000000", "CANCELED"],
        [clientOrderIdFor(protectiveKey(p), 2), "1.50000000", "NEW"],
      ]);
      // Covered whole again: the software watch leaves the stop to the exchange.
      const [watched] = await db.query<{ n: number }>(
        "select count(*)::int as n from orders where purpose = 'stop_loss' and status = 'OPEN' and qty = 1.5",
      );
      assert.equal(watched.n, 1);
      fake.setPrice("BTCUSDT", "95.5");
      assert.equal((await risk.runOnce()).handed, 0);
      assert.equal((await notes(db, "protective_stop")).length, 0);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a trailed stop is not lowered by a second buy with a lower stop",
  fn: () =>
    withTrail(async (s) => {
      const { db, agent } = s;
      await insertAlert(db, { strategy: "swing", qty: "1", sl: "95" });
      await agent.runOnce();
      await tick(s, "106");
      assert.equal(Number((await position(db)).stop_price), 103.88);
      await insertAlert(db, { strategy: "swing", qty: "0.5", sl: "100" });
      await agent.runOnce();
      const p = await position(db);
      assert.equal(Number(p.qty), 1.5);
      assert.equal(Number(p.stop_price), 103.88);
    }),
});

Deno.test({
  ...serviceTest,
  name: "paper: the resting stop trails the price in the paper broker and sells once",
  fn: async () => {
    const t = await testDb();
    const fake = startFakeExchange({ markets: [{ symbol: "BTCUSDT", price: "100" }] });
    const exchange = await paperExchange(t.db, fake);
    try {
      const db = t.db;
      const agent = await executionSetup(db, exchange, {}, protectedConfig);
      const risk = createRiskAgent({ db, exchange, log: logger("test") });
      await upsertStrategy(db, "swing", { trail_pct: "2", take_profit_pct: "50" });
      await insertAlert(db, { strategy: "swing", qty: "1", sl: "95" });
      assert.equal((await agent.runOnce()).executed, 1);
      const paperStops = () =>
        db.query<{ status: string; stop_price: string }>(
          `select status, stop_price::text from orders where purpose = 'stop_loss' order by id`,
        );
      for (const price of ["104", "110", "108"]) {
        fake.setPrice("BTCUSDT", price);
        assert.equal((await risk.runOnce()).handed, 0);
        for (let i = 0; i < 3; i++) {
          await agent.reconcileOnce();
          const open = (await paperStops()).filter((o) => o.status === "OPEN");
          assert.ok(open.length <= 1, `two paper stops resting at ${price}`);
        }
      }
      assert.equal(Number((await position(db)).stop_price), 107.8);
      assert.deepEqual((await paperStops()).map((o) => [o.status, Number(o.stop_price)]), [
        ["CANCELED", 95],
        ["CANCELED", 101.92],
        ["OPEN", 107.8],
      ]);
      // Through the trailed stop (its limit 107.26): the stop resting in the paper broker
      // guards the position, the software watch steps back, and the stop sells at 107.5.
      fake.setPrice("BTCUSDT", "107.5");
      assert.equal((await risk.runOnce()).handed, 0);
      await agent.reconcileOnce();
      assert.equal((await position(db)).status, "CLOSED");
      const sells = await db.query<{ purpose: string; avg: string }>(
        `select purpose, avg_fill_price::text as avg from orders
          where side = 'sell' and status = 'FILLED'`,
      );
      assert.deepEqual(sells.map((o) => [o.purpose, Number(o.avg)]), [["stop_loss", 107.5]]);
      assert.equal(await count(db, "select 1 from orders where side = 'sell'"), 3);
      assert.equal((await risk.runOnce()).handed, 0);
      assert.equal(fake.orders.length, 0, "paper: nothing reaches the exchange");
    } finally {
      await exchange.close?.();
      await fake.close();
      await t.close();
    }
  },
});
