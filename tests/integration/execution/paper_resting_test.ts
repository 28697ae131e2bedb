/**
 * Resting paper orders, through the real components: the paper broker over the fake Binance's
 * public ticker (real ccxt client), the Execution agent, its reconciler and the protector. The
 * broker's book is in the database (paper_orders), so a new broker instance over the same
 * database — a restart — finds every resting order and fills it once, with the same fill; a
 * paper position's stop rests in the broker and gives the same rows as a live one on the fake.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { TemporaryError } from "../../../core/errors.ts";
import { createCcxtExchange } from "../../../exchange/ccxt.ts";
import type { Exchange, Ticker } from "../../../exchange/port.ts";
import { OrderOutcomeUnknownError } from "../../../exchange/port.ts";
import { createPaperExchange } from "../../../execution/paper_broker.ts";
import { createRiskAgent } from "../../../risk/watch.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import { testDb } from "../../helpers/db.ts";
import { type FakeExchange, startFakeExchange } from "../../fakes/exchange.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import {
  count,
  executionSetup,
  insertAlert,
  liveExchange,
  paperExchange,
  protectedConfig,
  testConfig,
} from "../../helpers/execution.ts";

type Ctx = { db: Db; fake: FakeExchange };

async function withPaper(fn: (c: Ctx) => Promise<void>) {
  const t = await testDb();
  const fake = startFakeExchange();
  try {
    await fn({ db: t.db, fake });
  } finally {
    await fake.close();
    await t.close();
  }
}

/** A paper broker whose public ticker can be made to fail or to answer without a price. */
async function flakyPaper(db: Db, fake: FakeExchange) {
  const market = await createCcxtExchange({
    id: "binance",
    mode: "paper",
    apiUrl: fake.url,
    timeoutMs: 2_000,
    throttle: false,
  });
  const state = { ticker: "ok" as "ok" | "throw" | "no-price" };
  const flaky: Exchange = {
    ...market,
    fetchTicker: async (symbol): Promise<Ticker> => {
      if (state.ticker === "throw") throw new TemporaryError("ticker unavailable");
      const t = await market.fetchTicker(symbol);
      return state.ticker === "no-price" ? { ...t, last: Number.NaN } : t;
    },
  };
  return {
    exchange: createPaperExchange({ db, market: flaky, initialBalanceQuote: 10_000 }),
    state,
  };
}

/** A restarted service: a new broker instance and a new agent over the same database. */
async function restart(db: Db, fake: FakeExchange, config = testConfig) {
  const exchange = await paperExchange(db, fake);
  return { exchange, agent: await executionSetup(db, exchange, {}, config) };
}

const orderOf = async (db: Db, where: string) =>
  (await db.query<{ id: number; client_order_id: string; status: string; avg: string | null }>(
    `select id, client_order_id, status, avg_fill_price::text as avg from orders where ${where}`,
  ))[0];

const executionsOf = (db: Db, orderId: number) =>
  db.query<{ exchange_trade_id: string; qty: string; price: string }>(
    "select exchange_trade_id, qty::text, price::text from executions where order_id = $1",
    [orderId],
  );

Deno.test({
  ...serviceTest,
  name:
    "a resting paper limit buy survives a restart and fills once, at its price, with one fill id",
  fn: () =>
    withPaper(async ({ db, fake }) => {
      const first = await restart(db, fake);
      await insertAlert(db, { idempotencyKey: "rest-1", qty: "0.01", price: "49000", sl: "48000" });
      await first.agent.runOnce();
      let buy = await orderOf(db, "idempotency_key = 'rest-1'");
      assert.equal(buy.status, "OPEN");
      // The resting buy holds its cost and fee back (490 + 0.49) from the free balance.
      assert.equal((await first.exchange.fetchBalance()).USDT.free, "9509.51");
      await first.exchange.close?.();

      const second = await restart(db, fake);
      assert.equal((await second.exchange.fetchBalance()).USDT.free, "9509.51", "still held");
      fake.setPrice("BTCUSDT", "49500");
      await second.agent.reconcileOnce();
      assert.equal((await orderOf(db, "idempotency_key = 'rest-1'")).status, "OPEN");
      fake.setPrice("BTCUSDT", "48990");
      await second.agent.reconcileOnce();
      buy = await orderOf(db, "idempotency_key = 'rest-1'");
      assert.deepEqual([buy.status, Number(buy.avg)], ["FILLED", 49000]);
      const fills = await executionsOf(db, buy.id);
      assert.deepEqual(fills.map((f) => [f.exchange_trade_id, Number(f.qty), Number(f.price)]), [
        [`${buy.client_order_id}-1`, 0.01, 49000],
      ]);
      // Asked again, by this instance and by another one at another price: the same answer.
      const answer = await second.exchange.fetchOrderByClientId(buy.client_order_id, "BTC/USDT");
      fake.setPrice("BTCUSDT", "47000");
      const third = await restart(db, fake);
      assert.deepEqual(
        await third.exchange.fetchOrderByClientId(buy.client_order_id, "BTC/USDT"),
        answer,
      );
      await third.agent.reconcileOnce();
      assert.equal((await executionsOf(db, buy.id)).length, 1, "never a second fill");
      assert.equal(
        Number((await db.query<{ qty: string }>("select qty::text from positions"))[0].qty),
        0.01,
      );
      // Filled and in the ledger: nothing is held any more.
      assert.equal((await third.exchange.fetchBalance()).USDT.used, "0");

      // A second resting buy, cancelled after a restart: the cancel is the broker's word.
      await insertAlert(db, { idempotencyKey: "rest-2", qty: "0.01", price: "40000", sl: "39000" });
      await third.agent.runOnce();
      await third.exchange.close?.();
      const fourth = await restart(db, fake);
      const resting = await orderOf(db, "idempotency_key = 'rest-2'");
      assert.equal(resting.status, "OPEN");
      await db.query(
        "insert into cancel_requests (order_id, requested_by) values ($1, 'test')",
        [resting.id],
      );
      await fourth.agent.reconcileOnce();
      assert.equal((await orderOf(db, "idempotency_key = 'rest-2'")).status, "CANCELED");
      assert.equal((await fourth.exchange.fetchBalance()).USDT.used, "0", "the hold is released");
      fake.setPrice("BTCUSDT", "39000");
      await fourth.agent.reconcileOnce();
      assert.equal(await count(db, "select 1 from executions"), 1, "a cancelled order never fills");
      await assert.rejects(
        () => fourth.exchange.cancelOrder(resting.client_order_id, "BTC/USDT"),
        /is not open/,
      );
      await fourth.exchange.close?.();
      assert.equal(fake.orders.length, 0, "paper orders never reach the exchange");
    }),
});

/** What a path leaves in the database, without ids, timestamps, client ids or the book. */
async function rowsOf(db: Db) {
  const orders = await db.query(
    `select side, type, purpose, qty::float8, price::float8, stop_price::float8, status,
            filled_qty::float8, avg_fill_price::float8, fee::float8, fee_currency
       from orders order by id`,
  );
  const positions = await db.query(
    `select symbol, status, qty::float8, avg_entry_price::float8, stop_price::float8,
            realized_pnl::float8, fees::float8 from positions order by id`,
  );
  const actions = await db.query(
    "select kind, status, params ->> 'on_exchange' as on_exchange from risk_actions order by id",
  );
  const legs = await db.query(
    `select asset, kind, amount::float8 from transactions where kind <> 'deposit' order by id`,
  );
  return { orders, positions, actions, legs };
}

/** An entry of 0.01 BTC at 50000 with its stop at 49000 (limit 48755), then 48900. */
async function stopPath(db: Db, exchange: Exchange, fake: FakeExchange) {
  fake.setPrice("BTCUSDT", "50000");
  const agent = await executionSetup(db, exchange, {}, protectedConfig);
  const risk = createRiskAgent({ db, exchange, log: logger("test") });
  await insertAlert(db, { qty: "0.01", sl: "49000" });
  assert.equal((await agent.runOnce()).executed, 1);
  fake.setPrice("BTCUSDT", "48900");
  // The stop guards the position (48900 is above its limit): the watch steps back.
  assert.equal((await risk.runOnce()).handed, 0);
  await agent.reconcileOnce();
  await agent.reconcileOnce();
  assert.equal((await risk.runOnce()).handed, 0);
  return rowsOf(db);
}

Deno.test({
  ...serviceTest,
  name: "a paper position's stop rests in the broker and gives the same rows as live on the fake",
  fn: async () => {
    const fake = startFakeExchange({ balances: { USDT: "10000" } });
    const liveDb = await testDb();
    const paperDb = await testDb();
    const live = await liveExchange(fake);
    const paper = await paperExchange(paperDb.db, fake);
    try {
      const a = await stopPath(liveDb.db, live, fake);
      const liveOrders = fake.orders.length;
      const b = await stopPath(paperDb.db, paper, fake);
      assert.deepEqual(a.orders.map((o) => [o.purpose, o.type, o.status]), [
        ["entry", "market", "FILLED"],
        ["stop_loss", "stop_limit", "FILLED"],
      ]);
      assert.deepEqual(a.positions.map((p) => p.status), ["CLOSED"]);
      assert.deepEqual(a.actions.map((r) => [r.kind, r.status, r.on_exchange]), [
        ["stop_loss", "DONE", "true"],
      ]);
      // The stop's fill: 0.01 BTC out, 489 USDT in, its 0.1 % fee (both take it in quote).
      assert.deepEqual(a.legs.slice(3).map((l) => [l.asset, l.kind, l.amount]), [
        ["BTC", "trade", -0.01],
        ["USDT", "trade", 489],
        ["USDT", "fee", -0.489],
      ]);
      assert.deepEqual(b, a);
      assert.equal(fake.orders.length, liveOrders, "paper orders never reach the exchange");
      const [book] = await paperDb.db.query<{ status: string; triggered: boolean }>(
        `select p.status, p.triggered_at is not null as triggered from paper_orders p
           join orders o on o.id = p.order_id where o.purpose = 'stop_loss'`,
      );
      assert.deepEqual([book.status, book.triggered], ["closed", true]);
    } finally {
      await live.close?.();
      await paper.close?.();
      await fake.close();
      await liveDb.close();
      await paperDb.close();
    }
  },
});

Deno.test({
  ...serviceTest,
  name: "a paper stop whose answer was lost, and a restart, is settled from the broker's book",
  fn: () =>
    withPaper(async ({ db, fake }) => {
      const paper = await paperExchange(db, fake);
      // The stop is booked by the broker, then its answer is lost (a crash after the call).
      const losing: Exchange = {
        ...paper,
        createOrder: async (r) => {
          const answer = await paper.createOrder(r);
          if (r.type !== "stop_limit") return answer;
          throw new OrderOutcomeUnknownError("answer lost");
        },
      };
      const agent = await executionSetup(db, losing, {}, protectedConfig);
      await insertAlert(db, { qty: "0.01", sl: "49000" });
      await agent.runOnce();
      assert.equal((await orderOf(db, "purpose = 'stop_loss'")).status, "UNKNOWN");

      const after = await restart(db, fake, protectedConfig);
      await after.agent.reconcileOnce();
      assert.equal((await orderOf(db, "purpose = 'stop_loss'")).status, "OPEN");
      // A gap: below the stop and below its limit, the triggered stop rests (as on Binance).
      fake.setPrice("BTCUSDT", "48000");
      await after.agent.reconcileOnce();
      assert.equal((await orderOf(db, "purpose = 'stop_loss'")).status, "OPEN");
      await after.exchange.close?.();
      // The trigger is in the database: after another restart the recovered price fills it, at
      // its limit (a resting limit by then, taken on the way back), not at the price now.
      const again = await restart(db, fake, protectedConfig);
      fake.setPrice("BTCUSDT", "49200");
      await again.agent.reconcileOnce();
      const stop = await orderOf(db, "purpose = 'stop_loss'");
      assert.deepEqual([stop.status, Number(stop.avg)], ["FILLED", 48755]);
      assert.equal(await count(db, "select 1 from orders where purpose = 'stop_loss'"), 1);
      assert.equal(await count(db, "select 1 from orders where side = 'sell'"), 1);
      assert.equal(await count(db, "select 1 from positions where status = 'CLOSED'"), 1);
      assert.deepEqual(
        (await db.query("select status from risk_actions")).map((r) => r.status),
        ["DONE"],
      );
      await again.exchange.close?.();
      await paper.close?.();
    }),
});

Deno.test({
  ...serviceTest,
  name: "a paper ticker that fails or has no price never triggers a resting stop",
  fn: () =>
    withPaper(async ({ db, fake }) => {
      const { exchange, state } = await flakyPaper(db, fake);
      try {
        const agent = await executionSetup(db, exchange, {}, protectedConfig);
        await insertAlert(db, { qty: "0.01", sl: "49000" });
        await agent.runOnce();
        assert.equal((await orderOf(db, "purpose = 'stop_loss'")).status, "OPEN");
        fake.setPrice("BTCUSDT", "48900");
        for (const failure of ["throw", "no-price"] as const) {
          state.ticker = failure;
          await agent.reconcileOnce();
          assert.equal((await orderOf(db, "purpose = 'stop_loss'")).status, "OPEN", failure);
          assert.equal(
            await count(db, "select 1 from paper_orders where triggered_at is not null"),
            0,
            failure,
          );
        }
        // A price again, above the stop: nothing was triggered meanwhile (a stop triggered by
        // a failed ticker would now fill at 50000, above its limit).
        state.ticker = "ok";
        fake.setPrice("BTCUSDT", "50000");
        await agent.reconcileOnce();
        assert.equal((await orderOf(db, "purpose = 'stop_loss'")).status, "OPEN");
        assert.equal(await count(db, "select 1 from executions"), 1, "the entry's fill only");
      } finally {
        await exchange.close?.();
      }
    }),
});
