/**
 * Protective stops where a position's quantity is not simply "what the entry bought": a stop
 * that sold part of it and then ended, a limit sell resting for part of it, dust a buy's
 * commission in the base leaves after the exit, and an entry whose stop-limit would sit under
 * the minimum notional. Through the real ccxt client against the fake Binance (which keeps
 * resting orders and triggers them when its price moves).
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import {
  alertOf,
  insertAlert,
  protectedConfig,
  testConfig,
  withLive,
} from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { createRiskAgent } from "../../../risk/watch.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import type { FakeExchange } from "../../fakes/exchange.ts";

const restingStops = (fake: FakeExchange) =>
  fake.orders.filter((o) => o.type === "STOP_LOSS_LIMIT" && o.status === "NEW");

const positions = (db: Db) =>
  db.query<{ status: string; qty: string }>("select status, qty::text from positions order by id");

Deno.test({
  ...serviceTest,
  name: "a stop that sold part of the position and then expired is placed again for the rest",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        // The stop's fill is half, then the order expires (thin book below the stop).
        fake.fail("partial", 1, "STOP_LOSS_LIMIT");
        await insertAlert(db, { qty: "0.02", sl: "49000" });
        await agent.runOnce();
        assert.equal(restingStops(fake).length, 1);
        fake.setPrice("BTCUSDT", "48900");
        assert.equal(restingStops(fake).length, 0, "the stop sold half and expired");
        fake.setPrice("BTCUSDT", "49500");
        await agent.reconcileOnce();
        await agent.reconcileOnce();
        const [p] = await positions(db);
        assert.equal(p.status, "OPEN");
        assert.equal(Number(p.qty), 0.01);
        const resting = restingStops(fake);
        assert.equal(resting.length, 1, "the 0.01 still held has a stop on the exchange");
        assert.equal(Number(resting[0].origQty), 0.01);
        const stops = await db.query<{ status: string; filled_qty: string }>(
          "select status, filled_qty::text from orders where purpose = 'stop_loss' order by id",
        );
        assert.deepEqual(stops.map((s) => [s.status, Number(s.filled_qty)]), [
          ["EXPIRED", 0.01],
          ["OPEN", 0],
        ]);
        const failed = await db.query("select 1 from notification_outbox where kind = $1", [
          "protection_failed",
        ]);
        assert.equal(failed.length, 0, "no CRITICAL: the stop was placed");
      },
      undefined,
      protectedConfig,
    ),
});

Deno.test({
  ...serviceTest,
  name: "a limit sell resting for half the position leaves a stop on the other half, resized " +
    "to the whole once the limit is cancelled",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        await insertAlert(db, { qty: "0.01", sl: "49000" });
        await agent.runOnce();
        assert.equal(Number(restingStops(fake)[0].origQty), 0.01);
        // A take-profit limit for half, well above the market: it rests.
        await insertAlert(db, { action: "sell", qty: "0.005", price: "60000" });
        for (let i = 0; i < 4; i++) {
          await agent.runOnce();
          await agent.reconcileOnce();
        }
        const limit = fake.orders.find((o) => o.type === "LIMIT" && o.side === "SELL")!;
        assert.equal(limit.status, "NEW");
        const [stop] = restingStops(fake);
        assert.ok(stop, "the half not in the limit sell has a stop on the exchange");
        assert.equal(Number(stop.origQty), 0.005);
        // Nothing changes while both rest: no replacement pass after pass.
        await agent.reconcileOnce();
        await agent.reconcileOnce();
        assert.equal(fake.orders.filter((o) => o.type === "STOP_LOSS_LIMIT").length, 2);
        // The limit is cancelled by a person: the whole position needs the stop again.
        fake.cancel(limit.clientOrderId);
        for (let i = 0; i < 4; i++) await agent.reconcileOnce();
        const now = restingStops(fake);
        assert.equal(now.length, 1, "one stop at a time");
        assert.equal(Number(now[0].origQty), 0.01);
      },
      undefined,
      protectedConfig,
    ),
});

Deno.test({
  ...serviceTest,
  name: "too little left beside a limit sell for a stop of its own raises nothing, and the " +
    "whole position gets its stop back once the limit is cancelled",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        await insertAlert(db, { qty: "0.01", sl: "49000" });
        await agent.runOnce();
        // 0.0099 in a limit far above: 0.0001 left, 4.87 USDT at the stop's limit (minimum 5).
        await insertAlert(db, { action: "sell", qty: "0.0099", price: "60000" });
        for (let i = 0; i < 4; i++) {
          await agent.runOnce();
          await agent.reconcileOnce();
        }
        assert.equal(restingStops(fake).length, 0);
        const failed = () =>
          db.query("select 1 from notification_outbox where kind = 'protection_failed'");
        assert.equal((await failed()).length, 0, "no CRITICAL for what was never placeable");
        const limit = fake.orders.find((o) => o.type === "LIMIT" && o.side === "SELL")!;
        fake.cancel(limit.clientOrderId);
        for (let i = 0; i < 3; i++) await agent.reconcileOnce();
        const now = restingStops(fake);
        assert.equal(now.length, 1, "the whole position has its stop again, at once");
        assert.equal(Number(now[0].origQty), 0.01);
        assert.equal((await failed()).length, 0);
      },
      undefined,
      protectedConfig,
    ),
});

Deno.test({
  ...serviceTest,
  name: "a software stop-loss has a take-profit limit holding part of the position cancelled " +
    "and sells all of it",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await insertAlert(db, { qty: "0.01", sl: "49000" });
      await agent.runOnce();
      await insertAlert(db, { action: "sell", qty: "0.005", price: "60000" });
      await agent.runOnce();
      const limit = fake.orders.find((o) => o.type === "LIMIT" && o.side === "SELL")!;
      assert.equal(limit.status, "NEW");
      // The software watch alone (no stop on the exchange in this configuration).
      fake.setPrice("BTCUSDT", "48500");
      const risk = createRiskAgent({ db, exchange, log: logger("test") });
      assert.equal((await risk.runOnce()).handed, 1);
      for (let i = 0; i < 4; i++) {
        await agent.runOnce();
        await agent.reconcileOnce();
      }
      assert.equal(limit.status, "CANCELED");
      const sold = fake.orders.filter((o) => o.side === "SELL" && o.type === "MARKET");
      assert.deepEqual(sold.map((o) => Number(o.origQty)), [0.01], "all of it, once");
      assert.deepEqual((await positions(db)).map((p) => p.status), ["CLOSED"]);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a software stop-loss beside a take-profit limit whose answer was lost waits for it, " +
    "then sells all, once",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await insertAlert(db, { qty: "0.01", sl: "49000" });
      await agent.runOnce();
      fake.fail("hang", 1, "LIMIT"); // the take-profit limit is booked; its answer is lost
      await insertAlert(db, { action: "sell", qty: "0.005", price: "60000" });
      assert.equal((await agent.runOnce()).unknown, 1);
      fake.setPrice("BTCUSDT", "48500");
      const risk = createRiskAgent({ db, exchange, log: logger("test") });
      for (let i = 0; i < 6; i++) {
        await risk.runOnce();
        await agent.runOnce();
        await agent.reconcileOnce();
      }
      const sold = fake.orders.filter((o) => o.side === "SELL" && o.type === "MARKET");
      assert.deepEqual(sold.map((o) => Number(o.origQty)), [0.01], "all of it, once");
      const failed = await db.query("select 1 from notification_outbox where kind = $1", [
        "risk_exit_failed",
      ]);
      assert.equal(failed.length, 0, "no failed attempt");
      assert.deepEqual((await positions(db)).map((p) => p.status), ["CLOSED"]);
    }, 300),
});

Deno.test({
  ...serviceTest,
  name: "a software stop-loss is not held up by an add-on buy whose answer was lost",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await insertAlert(db, { qty: "0.01", sl: "49000" });
      await agent.runOnce();
      fake.fail("hang-before", 1, "MARKET"); // the add-on's answer is lost
      await insertAlert(db, { qty: "0.002", sl: "49000" }, "pine");
      assert.equal((await agent.runOnce()).unknown, 1);
      fake.setPrice("BTCUSDT", "48500");
      const risk = createRiskAgent({ db, exchange, log: logger("test") });
      assert.equal((await risk.runOnce()).handed, 1);
      assert.equal((await agent.runOnce()).executed, 1, "the stop-loss sells what is held now");
    }, 2_000),
});

Deno.test({
  ...serviceTest,
  name: "the stop filling all that can be sold closes the position; the commission's dust stays",
  fn: () =>
    withLive(
      async ({ db, fake, agent, exchange }) => {
        // 0.01234 bought, 0.00001234 BTC commission: 0.01232766 held, 0.01232 on the step.
        await insertAlert(db, { qty: "0.01234", sl: "49000" });
        assert.equal((await agent.runOnce()).executed, 1);
        assert.equal(Number(restingStops(fake)[0].origQty), 0.01232);
        fake.setPrice("BTCUSDT", "48900");
        await agent.reconcileOnce();
        const [p] = await positions(db);
        assert.equal(p.status, "CLOSED");
        assert.equal(Number(p.qty), 0.00000766, "the dust is what the closed position kept");
        // Nothing is left for the software watch or the protector to act on.
        const risk = createRiskAgent({ db, exchange, log: logger("test") });
        assert.equal((await risk.runOnce()).watched, 0);
        await agent.runOnce();
        await agent.reconcileOnce();
        assert.equal(fake.orders.filter((o) => o.type === "STOP_LOSS_LIMIT").length, 1);
        const warned = await db.query(
          "select 1 from notification_outbox where severity in ('WARN', 'CRITICAL')",
        );
        assert.equal(warned.length, 0);
      },
      undefined,
      protectedConfig,
      { commissionIn: "received" },
    ),
});

Deno.test({
  ...serviceTest,
  name:
    "an exit of all that can be sold closes the position, so MAX_OPEN_POSITIONS counts it no more",
  fn: () =>
    withLive(
      async ({ db, agent }) => {
        await insertAlert(db, { qty: "0.00123", sl: "49000" });
        assert.equal((await agent.runOnce()).executed, 1);
        // 0.00122877 held; the exit sells 0.00122.
        await insertAlert(db, { action: "sell" });
        assert.equal((await agent.runOnce()).executed, 1);
        assert.deepEqual((await positions(db)).map((p) => p.status), ["CLOSED"]);
        const eth = await insertAlert(db, { symbol: "ETH/USDT", qty: "0.01", sl: "2900" });
        await agent.runOnce();
        assert.equal((await alertOf(db, eth)).status, "EXECUTED");
      },
      undefined,
      { ...testConfig, risk: { ...testConfig.risk, maxOpenPositions: 1 } },
      { commissionIn: "received" },
    ),
});

Deno.test({
  ...serviceTest,
  name: "an entry whose resting stop-limit would be under the minimum notional is refused, " +
    "judged at the limit where the exchange judges it",
  fn: async () => {
    // 0.01 at 50000; the stop exit 0.00999 (fee) at 49000 is 489.51, at its limit 48755 only
    // 487.06: under a minimum of 488 only when the stop rests on the exchange.
    const market = { markets: [{ symbol: "BTCUSDT", minNotional: "488" }] };
    await withLive(
      async ({ db, fake, agent }) => {
        const id = await insertAlert(db, { qty: "0.01", sl: "49000" });
        assert.equal((await agent.runOnce()).rejected, 1);
        const alert = await alertOf(db, id);
        assert.equal(alert.status, "REJECTED");
        assert.match(
          alert.error ?? "",
          /stop exit of 0\.00999 at 48755 \(the limit of its stop 49000 on the exchange\) would be 487\.06\d* USDT, below the minimum 488/,
        );
        assert.equal(fake.orders.length, 0, "nothing bought that could not be protected");
      },
      undefined,
      protectedConfig,
      market,
    );
    await withLive(
      async ({ db, agent }) => {
        const id = await insertAlert(db, { qty: "0.01", sl: "49000" });
        assert.equal((await agent.runOnce()).executed, 1);
        assert.equal((await alertOf(db, id)).status, "EXECUTED");
      },
      undefined,
      testConfig,
      market,
    );
  },
});

Deno.test({
  ...serviceTest,
  name: "a resting limit buy filled first by a sliver too small for a stop gets the whole " +
    "position's stop once it fills, with no CRITICAL and no wait of a quarter of an hour",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        // A limit buy below the market rests on the book.
        await insertAlert(db, { qty: "0.01", price: "49900", sl: "49000" });
        await agent.runOnce();
        const buy = fake.orders.find((o) => o.side === "BUY")!;
        assert.equal(buy.status, "NEW");
        // A taker fills 0.0001 of it: 4.88 USDT at the stop's limit 48755, under the minimum 5.
        fake.fillPart(buy.clientOrderId, "0.0001");
        for (let i = 0; i < 2; i++) await agent.reconcileOnce();
        assert.equal(Number((await positions(db))[0].qty), 0.0001);
        // The rest of the buy fills.
        fake.setPrice("BTCUSDT", "49900");
        assert.equal(buy.status, "FILLED");
        for (let i = 0; i < 3; i++) await agent.reconcileOnce();
        assert.equal(Number((await positions(db))[0].qty), 0.01);
        const resting = restingStops(fake);
        assert.equal(resting.length, 1, "the position bought has its stop on the exchange");
        assert.equal(Number(resting[0].origQty), 0.01);
        const failed = await db.query("select 1 from notification_outbox where kind = $1", [
          "protection_failed",
        ]);
        assert.equal(failed.length, 0, "no CRITICAL for a sliver while the buy still rested");
      },
      undefined,
      protectedConfig,
    ),
});

Deno.test({
  ...serviceTest,
  name: "a market sell of part that would leave too little for a stop of its own sells all, " +
    "instead of leaving a rest the exchange refuses to protect",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        await insertAlert(db, { qty: "0.01", sl: "49000" });
        await agent.runOnce();
        assert.equal(restingStops(fake).length, 1);
        // 0.0099 of the 0.01: the 0.0001 left would be 4.88 USDT at the stop's limit 48755
        // (minimum 5), a stop the exchange refuses for good.
        const id = await insertAlert(db, { action: "sell", qty: "0.0099" }, "pine");
        for (let i = 0; i < 4; i++) {
          await agent.runOnce();
          await agent.reconcileOnce();
        }
        assert.equal((await alertOf(db, id)).status, "EXECUTED");
        const sold = fake.orders.filter((o) => o.side === "SELL" && o.type === "MARKET");
        assert.deepEqual(sold.map((o) => Number(o.origQty)), [0.01], "all of it, once");
        assert.deepEqual((await positions(db)).map((p) => p.status), ["CLOSED"]);
        assert.equal(restingStops(fake).length, 0);
        const failed = await db.query("select 1 from notification_outbox where kind = $1", [
          "protection_failed",
        ]);
        assert.equal(failed.length, 0, "no stop refused by the exchange");
        // A sell of part that leaves enough sells only what it asked.
        await insertAlert(db, { qty: "0.01", sl: "49000" });
        await agent.runOnce();
        await insertAlert(db, { action: "sell", qty: "0.004" }, "pine");
        for (let i = 0; i < 4; i++) {
          await agent.runOnce();
          await agent.reconcileOnce();
        }
        assert.equal(Number((await positions(db))[1].qty), 0.006);
        assert.equal(Number(restingStops(fake)[0].origQty), 0.006);
      },
      undefined,
      protectedConfig,
    ),
});
