/**
 * The laddered take-profit through the real ccxt client against the fake Binance: a strategy
 * with --tp-ladder "4:50,8:50", an entry at 100 with its stop at 98 resting on the exchange.
 * Each slice is handed over by the Risk agent once, its sell cancels the resting stop first and
 * sells exactly the slice, and after the first the stop rests again, for the remainder, at break
 * even (100 plus both fees, up to the tick: 100.21). Runs on the real PostgreSQL when
 * TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import {
  count,
  executionSetup,
  insertAlert,
  paperExchange,
  protectedConfig,
  withLive as withLiveAgent,
} from "../../helpers/execution.ts";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { expectNotification, serviceTest } from "../../helpers/fixtures.ts";
import { createRiskAgent } from "../../../risk/watch.ts";
import { logger } from "../../../core/log.ts";
import { positionsText } from "../../../control/views.ts";
import type { Db } from "../../../db/db.ts";
import type { FakeExchange } from "../../fakes/exchange.ts";

const log = logger("test");
const withLive = (fn: Parameters<typeof withLiveAgent>[0]) =>
  withLiveAgent(fn, undefined, protectedConfig);

type Agent = Awaited<ReturnType<typeof executionSetup>>;

const stopsOn = (fake: FakeExchange) => fake.orders.filter((o) => o.type === "STOP_LOSS_LIMIT");
const marketSells = (fake: FakeExchange) =>
  fake.orders.filter((o) => o.side === "SELL" && o.type === "MARKET");

const position = async (db: Db) =>
  (await db.query<{
    id: number;
    status: string;
    qty: string;
    stop_price: string;
    take_profit_price: string | null;
    tp_ladder: { pct: number; share: number; price: string; qty: string }[] | null;
    tp_ladder_filled: number;
    opened_at: Date;
  }>(
    `select id, status, qty::text, stop_price::text, take_profit_price::text, tp_ladder,
            tp_ladder_filled, opened_at from positions order by id desc limit 1`,
  ))[0];

const takeProfits = (db: Db) =>
  db.query<{ status: string; slice: string; qty: string; key: string }>(
    `select r.status, r.params ->> 'slice' as slice, r.params ->> 'qty' as qty,
            a.idempotency_key as key
       from risk_actions r join inbound_alerts a on a.id = r.alert_id
      where r.kind = 'take_profit' order by r.id`,
  );

/** ETH at 100, the laddered strategy, and 1 ETH bought with its stop at 98 on the exchange. */
async function enterLaddered(db: Db, fake: FakeExchange, agent: Agent) {
  fake.setPrice("ETHUSDT", "100");
  await db.query(
    `insert into strategies (name, take_profit_pct, tp_ladder)
     values ('ladder', 4, '[{"pct": 4, "share": 50}, {"pct": 8, "share": 50}]')`,
  );
  await insertAlert(db, { symbol: "ETH/USDT", strategy: "ladder", qty: "1", sl: "98" });
  assert.equal((await agent.runOnce()).executed, 1);
  assert.equal(stopsOn(fake).length, 1);
}

/** One exit of the watch through execution: the stop's cancel first, then the sell. */
async function sellHandedOver(agent: Agent) {
  assert.equal((await agent.runOnce()).deferred, 1, "the sell waits for the stop's cancel");
  await agent.reconcileOnce();
  assert.equal((await agent.runOnce()).executed, 1);
}

Deno.test({
  ...serviceTest,
  name: "a ladder fills each slice once and moves the stop to break even after the first",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await enterLaddered(db, fake, agent);
      const p = await position(db);
      // The slices of 0.999 (1 less the buy's fee): the ladder replaces the single target.
      assert.deepEqual(p.tp_ladder?.map((s) => [s.price, s.qty]), [["104", "0.4995"], [
        "108",
        "0.4995",
      ]]);
      assert.equal(p.take_profit_price, null);
      await expectNotification(db, "order_filled", {
        count: 1,
        text: /targets 0\.4995 at 104, the rest at 108/,
      });
      const risk = createRiskAgent({ db, exchange, log });
      fake.setPrice("ETHUSDT", "103.99");
      assert.equal((await risk.runOnce()).handed, 0);

      fake.setPrice("ETHUSDT", "104");
      assert.equal((await risk.runOnce()).handed, 1);
      const [tp1] = await takeProfits(db);
      assert.deepEqual([tp1.status, tp1.slice, tp1.qty], ["PLANNED", "1", "0.4995"]);
      assert.match(tp1.key, new RegExp(`^risk:tp1:${p.id}:\\d+$`));
      await expectNotification(db, "take_profit", {
        count: 1,
        severity: "INFO",
        text: /Take-profit 1 of 2 hit on ETH\/USDT .*≥ target 104; selling 0\.4995/,
      });
      assert.equal((await risk.runOnce()).handed, 0, "in flight: not handed over again");
      await sellHandedOver(agent);
      assert.deepEqual(marketSells(fake).map((o) => Number(o.origQty)), [0.4995]);
      assert.equal(stopsOn(fake)[0].status, "CANCELED");
      assert.deepEqual([(await position(db)).status, Number((await position(db)).qty)], [
        "OPEN",
        0.5005,
      ]);
      // Not protected again until the slice is settled: the stop then goes to break even.
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 1);

      // The price moving back and forth around 104 sells nothing more.
      for (const price of ["103.5", "104.2", "103.9", "104"]) {
        fake.setPrice("ETHUSDT", price);
        assert.equal((await risk.runOnce()).handed, 0, `at ${price}`);
      }
      const settled = await position(db);
      assert.deepEqual([settled.tp_ladder_filled, Number(settled.stop_price)], [1, 100.21]);
      assert.deepEqual((await takeProfits(db)).map((a) => a.status), ["DONE"]);
      const [be] = await expectNotification(db, "breakeven", { count: 1, severity: "INFO" });
      assert.match(be.text, /stop moved from 98 to break even 100\.21 .*; 0\.5005 left/);
      assert.equal(
        await count(db, "select 1 from risk_actions where kind = 'breakeven' and status = 'DONE'"),
        1,
      );

      // What /positions on Telegram shows: the new stop and the next slice's target.
      assert.match(
        await positionsText(db),
        /ETH\/USDT 0\.5005 @ 100 stop 100\.21 target 108 \(take-profit 2 of 2\)/,
      );
      // The protector rests the remainder's stop at break even on the exchange.
      await agent.reconcileOnce();
      const stops = stopsOn(fake);
      assert.equal(stops.length, 2);
      assert.deepEqual([stops[1].status, Number(stops[1].origQty), Number(stops[1].stopPrice)], [
        "NEW",
        0.5005,
        100.21,
      ]);
      assert.equal((await risk.runOnce()).handed, 0);

      fake.setPrice("ETHUSDT", "108");
      assert.equal((await risk.runOnce()).handed, 1);
      await expectNotification(db, "take_profit", {
        count: 2,
        text: /selling (0\.4995|the rest of the position)/,
      });
      await sellHandedOver(agent);
      assert.deepEqual(marketSells(fake).map((o) => Number(o.origQty)), [0.4995, 0.5005]);
      assert.equal((await position(db)).status, "CLOSED");
      assert.equal((await risk.runOnce()).settled, 1);
      assert.deepEqual((await takeProfits(db)).map((a) => [a.slice, a.status]), [
        ["1", "DONE"],
        ["2", "DONE"],
      ]);
      assert.equal((await position(db)).tp_ladder_filled, 2);
      assert.equal((await risk.runOnce()).handed, 0);
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 2, "nothing to protect any more");
      await expectNotification(db, "breakeven", { count: 1 });
    }),
});

Deno.test({
  ...serviceTest,
  name: "a restart between a slice's fill and its settling moves the stop once, sells it once",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await enterLaddered(db, fake, agent);
      fake.setPrice("ETHUSDT", "104");
      assert.equal((await createRiskAgent({ db, exchange, log }).runOnce()).handed, 1);
      await sellHandedOver(agent);
      // serve stops here: the slice filled, its action still PLANNED, the stop not moved.
      assert.equal(Number((await position(db)).stop_price), 98);
      const execution = await executionSetup(db, exchange, {}, protectedConfig);
      const risk = createRiskAgent({ db, exchange, log });
      const first = await risk.runOnce();
      assert.deepEqual([first.settled, first.handed], [1, 0]);
      assert.equal(Number((await position(db)).stop_price), 100.21);
      await execution.reconcileOnce();
      assert.deepEqual(stopsOn(fake).map((o) => [o.status, Number(o.origQty)]), [
        ["CANCELED", 1],
        ["NEW", 0.5005],
      ]);
      // And another restart after the settling: the slice stays filled.
      const again = createRiskAgent({ db, exchange, log });
      fake.setPrice("ETHUSDT", "104.5");
      assert.equal((await again.runOnce()).handed, 0);
      assert.equal(marketSells(fake).length, 1);
      await expectNotification(db, "breakeven", { count: 1 });
      assert.equal(await count(db, "select 1 from risk_actions where kind = 'take_profit'"), 1);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a slice's sell refused by the exchange keeps its level armed, with a WARN",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await enterLaddered(db, fake, agent);
      const risk = createRiskAgent({ db, exchange, log });
      fake.setPrice("ETHUSDT", "104");
      assert.equal((await risk.runOnce()).handed, 1);
      fake.fail("refuse", 1, "MARKET");
      assert.equal((await agent.runOnce()).deferred, 1);
      await agent.reconcileOnce();
      await agent.runOnce();
      assert.equal(marketSells(fake).length, 0);
      // Settled FAILED and handed over again (attempt 2, its own key) in the same pass.
      const next = await risk.runOnce();
      assert.deepEqual([next.settled, next.handed], [1, 1]);
      const [warn] = await expectNotification(db, "risk_exit_failed", {
        count: 1,
        severity: "WARN",
      });
      assert.match(warn.text, /did not sell its slice: .*the level stays armed \(attempt 1 of 3\)/);
      const p = await position(db);
      const key = `risk:tp1:${p.id}:${new Date(p.opened_at).getTime()}`;
      assert.deepEqual((await takeProfits(db)).map((a) => [a.status, a.slice, a.key]), [
        ["FAILED", "1", key],
        ["PLANNED", "1", `${key}:2`],
      ]);
      assert.equal(p.tp_ladder_filled, 0);
      assert.equal(Number(p.stop_price), 98, "no breakeven before the slice filled");
      assert.equal(await count(db, "select 1 from risk_actions where kind = 'breakeven'"), 0);
      // The second attempt sells the slice, once (its exit in flight, no stop was put back).
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 1);
      assert.equal((await agent.runOnce()).executed, 1);
      assert.deepEqual(marketSells(fake).map((o) => Number(o.origQty)), [0.4995]);
      await risk.runOnce();
      assert.equal((await position(db)).tp_ladder_filled, 1);
      assert.equal(Number((await position(db)).stop_price), 100.21);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a slice whose sell filled in part before it expired sells only the rest of the slice",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await enterLaddered(db, fake, agent);
      const risk = createRiskAgent({ db, exchange, log });
      fake.setPrice("ETHUSDT", "104");
      assert.equal((await risk.runOnce()).handed, 1);
      // Out of liquidity: half of the slice's 0.4995 (in whole steps) fills, then the market
      // order expires.
      fake.fail("partial", 1, "MARKET");
      await sellHandedOver(agent);
      assert.deepEqual(marketSells(fake).map((o) => [o.status, Number(o.executedQty)]), [
        ["EXPIRED", 0.2497],
      ]);
      // FAILED with a WARN, and attempt 2 sells what the slice still has to sell.
      assert.deepEqual(
        [(await risk.runOnce()).handed, (await position(db)).tp_ladder_filled],
        [1, 0],
      );
      await expectNotification(db, "risk_exit_failed", { count: 1, severity: "WARN" });
      await agent.reconcileOnce();
      assert.equal((await agent.runOnce()).executed, 1);
      assert.deepEqual(marketSells(fake).map((o) => Number(o.origQty)), [0.4995, 0.2498]);
      assert.deepEqual((await takeProfits(db)).map((a) => [a.status, a.qty]), [
        ["FAILED", "0.4995"],
        ["PLANNED", "0.2498"],
      ]);
      await risk.runOnce();
      const p = await position(db);
      assert.deepEqual([p.tp_ladder_filled, Number(p.qty)], [1, 0.5005]);
      assert.equal(Number(p.stop_price), 100.21, "break even after the slice sold in two parts");
    }),
});

Deno.test({
  ...serviceTest,
  name: "a slice too small to sell joins the next one and the order's notification says so",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.setPrice("ETHUSDT", "100");
      await db.query(
        `insert into strategies (name, tp_ladder)
         values ('ladder', '[{"pct": 4, "share": 5}, {"pct": 8, "share": 95}]')`,
      );
      await insertAlert(db, { symbol: "ETH/USDT", strategy: "ladder", qty: "0.1", sl: "98" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.deepEqual((await position(db)).tp_ladder?.map((s) => [s.pct, s.share, s.qty]), [
        [8, 100, "0.0999"],
      ]);
      await expectNotification(db, "order_filled", {
        count: 1,
        text:
          /targets 0\.0999 at 108, .*take-profit ladder: the 5 % at \+4 % joins \+8 % \(0\.0049 at 104 is 0\.5096, below the minimum notional 5\)/,
      });
    }),
});

Deno.test({
  ...serviceTest,
  name: "a paper account sells the same slices and moves its stop to break even",
  fn: async () => {
    const t = await testDb();
    const fake = startFakeExchange();
    fake.setPrice("ETHUSDT", "100");
    const exchange = await paperExchange(t.db, fake);
    try {
      const db = t.db;
      const agent = await executionSetup(db, exchange, {}, protectedConfig);
      await db.query(
        `insert into strategies (name, tp_ladder)
         values ('ladder', '[{"pct": 4, "share": 50}, {"pct": 8, "share": 50}]')`,
      );
      await insertAlert(db, { symbol: "ETH/USDT", strategy: "ladder", qty: "1", sl: "98" });
      assert.equal((await agent.runOnce()).executed, 1);
      const risk = createRiskAgent({ db, exchange, log });
      const sold = () =>
        db.query<{ qty: string }>(
          "select qty::text from orders where side = 'sell' and status = 'FILLED' order by id",
        );
      // As live: each slice's sell waits for the cancel of the stop resting in the paper
      // broker, which is then placed again for the remainder (at break even after the first).
      for (const [price, handed] of [["104", 1], ["103", 0], ["104.5", 0], ["108", 1]] as const) {
        fake.setPrice("ETHUSDT", price);
        assert.equal((await risk.runOnce()).handed, handed, `at ${price}`);
        if (handed) await sellHandedOver(agent);
        for (let i = 0; i < 3; i++) await agent.reconcileOnce();
        if (price === "103") assert.equal(Number((await position(db)).stop_price), 100.21);
      }
      const stops = await db.query<{ status: string; stop: string; qty: string }>(
        `select status, stop_price::text as stop, qty::text from orders
          where purpose = 'stop_loss' order by id`,
      );
      assert.deepEqual(stops.map((o) => [o.status, Number(o.stop), Number(o.qty)]), [
        ["CANCELED", 98, 1],
        ["CANCELED", 100.21, 0.5005],
      ]);
      assert.deepEqual((await sold()).map((o) => Number(o.qty)), [0.4995, 0.5005]);
      assert.equal((await position(db)).status, "CLOSED");
      await risk.runOnce();
      assert.deepEqual((await takeProfits(db)).map((a) => a.status), ["DONE", "DONE"]);
      await expectNotification(db, "breakeven", { count: 1 });
      assert.equal(fake.orders.length, 0, "paper: nothing reaches the exchange");
    } finally {
      await exchange.close?.();
      await fake.close();
      await t.close();
    }
  },
});

Deno.test({
  ...serviceTest,
  name: "a slice its earlier attempts sold in full between them is marked filled, not sold again",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await enterLaddered(db, fake, agent);
      const risk = createRiskAgent({ db, exchange, log });
      fake.setPrice("ETHUSDT", "104");
      assert.equal((await risk.runOnce()).handed, 1);
      await sellHandedOver(agent);
      assert.deepEqual(marketSells(fake).map((o) => Number(o.origQty)), [0.4995]);
      // The attempt's order filled the whole slice, but the attempt was judged FAILED and the
      // slice never marked (an exchange answer that ended the order oddly, or a crash before
      // the slice was recorded): what the attempts sold is the slice.
      await db.query("update risk_actions set status = 'FAILED' where kind = 'take_profit'");
      await db.query("update positions set tp_ladder_filled = 0");
      assert.equal((await risk.runOnce()).handed, 0, "nothing more to sell for slice 1");
      assert.deepEqual(marketSells(fake).map((o) => Number(o.origQty)), [0.4995]);
      const p = await position(db);
      assert.equal(p.tp_ladder_filled, 1, "the slice is recorded as filled");
      assert.equal(Number(p.stop_price), 100.21, "and the stop went to break even");
      assert.equal(
        await count(db, "select 1 from inbound_alerts where source = 'risk'"),
        1,
        "no new exit was handed over",
      );
    }),
});
