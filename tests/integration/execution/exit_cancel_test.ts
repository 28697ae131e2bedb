/**
 * The cancel an exit asks for a buy of its symbol: an exit of the whole position, with a
 * position held, sells at once and leaves the buy's cancel to the reconcile passes. That
 * cancel is asked again whatever the exchange answers (refused while the buy rests, a 5xx, a
 * lost answer) until the exchange's word has the buy ended, with a backoff and one WARN when
 * it still rests after a bound; a 429 makes the account wait. A buy that fills before its
 * cancel gets through is a position of its own, with its stop, and the operator hears that
 * the exit did not sell it. Through the real ccxt client against the fake Binance.
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
import { expectNotification, serviceTest, until } from "../../helpers/fixtures.ts";
import type { Db } from "../../../db/db.ts";
import { runCancelRequests } from "../../../execution/cancels.ts";
import type { FakeExchange } from "../../fakes/exchange.ts";

const requests = (db: Db) =>
  db.query<{ status: string; error: string | null; requested_by: string }>(
    "select status, error, requested_by from cancel_requests order by id",
  );

/** The pending requests as if asked `askedS` ago and last tried `triedS` ago. */
const age = (db: Db, askedS: number, triedS: number) =>
  db.query(
    `update cancel_requests set created_at = now() - make_interval(secs => $1),
            updated_at = now() - make_interval(secs => $2)
      where status = 'PENDING'`,
    [askedS, triedS],
  );

/** A position of 0.002 BTC, a limit buy of 0.002 resting below the market, and a whole exit. */
async function exitBesideRestingBuy(
  { db, fake, agent }: {
    db: Db;
    fake: FakeExchange;
    agent: { runOnce: () => Promise<{ executed: number; deferred: number }> };
  },
) {
  await insertAlert(db, { qty: "0.002", sl: "49000" });
  await agent.runOnce();
  await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
  await agent.runOnce();
  const add = fake.orders.find((o) => o.side === "BUY" && o.type === "LIMIT")!;
  assert.equal(add.status, "NEW");
  return add;
}

const cancelsOf = (fake: FakeExchange) => fake.requests["DELETE order"] ?? 0;

Deno.test({
  ...serviceTest,
  name: "an exit's cancel of a resting buy refused while the buy rests is asked again until " +
    "the buy is cancelled",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      const add = await exitBesideRestingBuy({ db, fake, agent });
      // "Unknown order sent." for an order still on the book, twice.
      fake.failRequests("DELETE order", 2, "unknown-order");
      const sell = await insertAlert(db, { action: "sell" });
      assert.equal((await agent.runOnce()).executed, 1, "the exit sells at once");
      assert.equal((await alertOf(db, sell)).status, "EXECUTED");
      for (let i = 0; i < 3; i++) {
        await age(db, 60, 60); // each try due
        await agent.reconcileOnce();
      }
      assert.equal(cancelsOf(fake), 3, "asked three times");
      assert.equal(add.status, "CANCELED", "the buy ends cancelled");
      await agent.reconcileOnce();
      assert.deepEqual((await requests(db)).map((r) => r.status), ["DONE"]);
      const notDone = await db.query(
        "select text from notification_outbox where dedupe_key like 'cancel-failed:%'",
      );
      assert.equal(notDone.length, 0, "no 'not done' for a refusal asked again");
      // The price reaches the old limit: nothing is bought any more.
      fake.setPrice("BTCUSDT", "44900");
      await agent.reconcileOnce();
      assert.equal((await db.query("select 1 from positions where status = 'OPEN'")).length, 0);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a buy that fills before the cancel an exit asked for is a new position with its stop, " +
    "and the operator hears it",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        const add = await exitBesideRestingBuy({ db, fake, agent });
        // Only the buy's cancel is refused; the position's stop on the exchange is cancelled.
        fake.failRequests(`DELETE order ${add.clientOrderId}`, 1_000, "unknown-order");
        const sell = await insertAlert(db, { action: "sell" });
        assert.equal((await agent.runOnce()).deferred, 1, "the exit waits for the stop's cancel");
        await agent.reconcileOnce();
        assert.equal((await agent.runOnce()).executed, 1);
        assert.equal((await alertOf(db, sell)).status, "EXECUTED");
        assert.equal(add.status, "NEW", "the buy still rests");
        fake.setPrice("BTCUSDT", "44900"); // the buy fills
        assert.equal(add.status, "FILLED");
        await agent.reconcileOnce();
        const held = await db.query<{ status: string; qty: string; stop_price: string }>(
          "select status, qty::text, stop_price::text from positions order by id",
        );
        assert.deepEqual(held.map((p) => [p.status, Number(p.qty), Number(p.stop_price)]), [
          ["CLOSED", 0, 49000],
          ["OPEN", 0.002, 44000],
        ]);
        const stops = fake.orders.filter((o) => o.type === "STOP_LOSS_LIMIT" && o.status === "NEW");
        assert.deepEqual(stops.map((o) => [Number(o.origQty), Number(o.stopPrice)]), [
          [0.002, 44000],
        ], "the new position's stop rests on the exchange");
        await expectNotification(db, "filled_after_exit", {
          count: 1,
          severity: "WARN",
          text: new RegExp(
            `${add.clientOrderId}.*filled 0\\.002 .*exit alert ${sell}.*did not sell it.*stop 44000`,
          ),
        });
        const asked = cancelsOf(fake);
        await age(db, 600, 600);
        await agent.reconcileOnce();
        await agent.reconcileOnce();
        assert.equal(cancelsOf(fake), asked, "an ended buy is not asked again");
        const [buyRequest] = await db.query<{ status: string; error: string }>(
          `select r.status, r.error from cancel_requests r join orders o on o.id = r.order_id
          where o.client_order_id = $1`,
          [add.clientOrderId],
        );
        assert.equal(buyRequest.status, "FAILED");
        assert.match(buyRequest.error, /the order filled 0\.002\d* of 0\.002\d* first \(FILLED\)/);
      },
      undefined,
      protectedConfig,
    ),
});

Deno.test({
  ...serviceTest,
  name: "an exit's cancel that keeps failing backs off, is told once after a bound, and goes " +
    "through once the exchange takes it",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      const add = await exitBesideRestingBuy({ db, fake, agent });
      fake.failRequests("DELETE order", 1_000, "unknown-order");
      const sell = await insertAlert(db, { action: "sell" });
      assert.equal((await agent.runOnce()).executed, 1);
      await agent.reconcileOnce();
      assert.equal(cancelsOf(fake), 1);
      const [first] = await requests(db);
      assert.equal(first.status, "PENDING", "a refusal is not the end of it");
      assert.match(first.error ?? "", /Unknown order sent/);
      // Asked 40 s ago, tried just now: the next try waits a quarter of that.
      await age(db, 40, 0);
      await agent.reconcileOnce();
      assert.equal(cancelsOf(fake), 1, "not due yet");
      await age(db, 40, 11);
      await agent.reconcileOnce();
      assert.equal(cancelsOf(fake), 2, "due after a quarter of its age");
      // Never more than a minute apart.
      await age(db, 3_600, 50);
      await agent.reconcileOnce();
      assert.equal(cancelsOf(fake), 2);
      await age(db, 3_600, 61);
      await agent.reconcileOnce();
      assert.equal(cancelsOf(fake), 3);
      await expectNotification(db, "exit_cancel_stuck", {
        count: 1,
        severity: "WARN",
        text: new RegExp(
          `exit of BTC/USDT \\(alert ${sell}\\) asked 60 min ago for the cancel of buy ` +
            `${add.clientOrderId}.*Unknown order sent.*asked again.*by hand`,
        ),
      });
      await age(db, 3_600, 61);
      await agent.reconcileOnce();
      await expectNotification(db, "exit_cancel_stuck", { count: 1 });
      assert.equal(add.status, "NEW");
      fake.failRequests("DELETE order", 0);
      await age(db, 3_600, 61);
      await agent.reconcileOnce();
      assert.equal(add.status, "CANCELED");
      await agent.reconcileOnce();
      assert.deepEqual((await requests(db)).map((r) => r.status), ["DONE"]);
    }),
});

Deno.test({
  ...serviceTest,
  name: "an exit's cancel lost to a 5xx or a timeout is asked again, with no false alarm",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      const add = await exitBesideRestingBuy({ db, fake, agent });
      fake.failRequests("DELETE order", 1, "500");
      await insertAlert(db, { action: "sell" });
      assert.equal((await agent.runOnce()).executed, 1);
      // The 5xx; then a cancel that the exchange carries out but whose answer is lost.
      await agent.reconcileOnce();
      assert.equal(add.status, "NEW");
      const slow = fake.hold("DELETE order");
      await age(db, 60, 60);
      await agent.reconcileOnce(); // times out
      slow.release(); // the exchange cancels it after all
      await until("the held cancel carried out", () => add.status === "CANCELED");
      for (let i = 0; i < 3; i++) {
        await age(db, 60, 60);
        await agent.reconcileOnce();
      }
      const [buy] = await db.query<{ status: string }>(
        "select status from orders where client_order_id = $1",
        [add.clientOrderId],
      );
      assert.equal(buy.status, "CANCELED");
      assert.deepEqual((await requests(db)).map((r) => r.status), ["DONE"]);
      const warned = await db.query<{ text: string }>(
        "select text from notification_outbox where severity <> 'INFO'",
      );
      assert.deepEqual(warned.map((w) => w.text), [], "nothing to warn about");
    }, 500),
});

Deno.test({
  ...serviceTest,
  name: "a 429 answering an exit's cancel makes the account wait; the cancel stays asked",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      const add = await exitBesideRestingBuy({ db, fake, agent });
      fake.failRequests("DELETE order", 1, "429");
      await insertAlert(db, { action: "sell" });
      assert.equal((await agent.runOnce()).executed, 1);
      const summary = await agent.reconcileOnce();
      assert.equal(summary.accountsWaiting, 1, "the account waits for Retry-After");
      assert.ok(agent.entriesPaused(1));
      const [request] = await requests(db);
      assert.equal(request.status, "PENDING");
      assert.match(request.error ?? "", /Too many requests/);
      await agent.reconcileOnce();
      assert.equal(cancelsOf(fake), 1, "nothing is sent while it waits");
      assert.equal(add.status, "NEW");
    }),
});

Deno.test({
  ...serviceTest,
  name: "an exit asks for the cancel of an add-on buy whose answer was lost; found resting, it " +
    "is cancelled",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        await insertAlert(db, { qty: "0.002", sl: "49000" });
        await agent.runOnce();
        fake.fail("hang", 1, "LIMIT"); // the add-on is booked; its answer is lost
        await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
        assert.equal((await agent.runOnce()).unknown, 1);
        await insertAlert(db, { action: "sell" });
        assert.equal((await agent.runOnce()).executed, 1, "the exit does not wait for it");
        for (let i = 0; i < 3; i++) {
          await age(db, 60, 60);
          await agent.reconcileOnce();
        }
        const add = fake.orders.find((o) => o.side === "BUY" && o.type === "LIMIT")!;
        assert.equal(add.status, "CANCELED");
        fake.setPrice("BTCUSDT", "44900");
        await agent.reconcileOnce();
        assert.equal((await db.query("select 1 from positions where status = 'OPEN'")).length, 0);
      },
      300,
      testConfig,
    ),
});

Deno.test({
  ...serviceTest,
  name: "an add-on buy whose answer was lost and whose cancel an exit asked for is, found never " +
    "placed, not bought afresh after the exit",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        await insertAlert(db, { qty: "0.002", sl: "49000" });
        await agent.runOnce();
        fake.fail("hang-before", 1, "LIMIT"); // the add-on never reaches the book
        const buy = await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
        assert.equal((await agent.runOnce()).unknown, 1);
        const sell = await insertAlert(db, { action: "sell" });
        assert.equal((await agent.runOnce()).executed, 1, "the exit sells at once");
        for (let i = 0; i < 4; i++) {
          await age(db, 60, 60);
          await agent.reconcileOnce();
        }
        const [lost] = await db.query<{ status: string; reject_reason: string }>(
          "select status, reject_reason from orders where side = 'buy' and type = 'limit'",
        );
        assert.equal(lost.status, "REJECTED");
        assert.match(lost.reject_reason, /never placed/);
        const after = await alertOf(db, buy);
        assert.equal(after.status, "REJECTED", "the buy's signal is not planned again");
        assert.match(after.error ?? "", new RegExp(`cancel was asked \\(by exit alert ${sell}\\)`));
        await agent.runOnce();
        assert.deepEqual(
          fake.orders.map((o) => [o.side, o.type]),
          [["BUY", "MARKET"], ["SELL", "MARKET"]],
          "nothing is bought after the exit",
        );
        assert.equal((await db.query("select 1 from positions where status = 'OPEN'")).length, 0);
        await expectNotification(db, "order_rejected", {
          count: 1,
          severity: "WARN",
          text: /never placed; its cancel was asked \(by exit alert \d+\), so it is not planned/,
        });
        await expectNotification(db, "order_never_placed", { count: 0 });
      },
      300,
      testConfig,
    ),
});

Deno.test({
  ...serviceTest,
  name: "a pending cancel of an order on another exchange id (after an EXCHANGE_ID switch) is " +
    "never sent to this one",
  fn: () =>
    withLive(async ({ db, fake, exchange }) => {
      await db.query("insert into exchanges (id) values ('kraken') on conflict do nothing");
      // The old exchange's markets, as they were synced before the switch.
      await db.query(
        `insert into exchange_instruments (exchange_id, instrument_id, market_id, trading_rules)
         select 'kraken', instrument_id, market_id, trading_rules from exchange_instruments
          where exchange_id = 'binance'`,
      );
      const [{ id }] = await db.query<{ id: number }>(
        `insert into orders (exchange_id, symbol, side, qty, ref_price, status, idempotency_key,
                             client_order_id)
         values ('kraken', 'BTC/USDT', 'buy', 0.001, 50000, 'OPEN', 'old-exchange-buy',
                 'pg-old-exchange-buy-1') returning id`,
      );
      await db.query(
        "insert into cancel_requests (order_id, requested_by) values ($1, 'exit:alert 1')",
        [id],
      );
      assert.equal(await runCancelRequests(db, exchange, 1), 0);
      assert.equal(fake.requests["DELETE order"] ?? 0, 0, "nothing sent to binance");
      const [r] = await db.query<{ status: string }>("select status from cancel_requests");
      assert.equal(r.status, "PENDING", "left for the exchange that has the order");
    }),
});
