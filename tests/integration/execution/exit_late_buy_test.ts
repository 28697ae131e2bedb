/**
 * A buy of the symbol that an exit would have cancelled but that turns up or fills late:
 *
 * - Given up as never placed (its answer lost, the exchange without trace of it), then found
 *   on the exchange by the 24 h recheck: when an exit asked for its cancel, or an exit of the
 *   whole position came after it, a resting one is cancelled with one message, and one that
 *   filled is held with its stop and told as such.
 * - Filling while a pass has the exit that waits for it claimed: the exit sells it, and no one
 *   is told it is held; one that fills after the exit read the position, or whose exit ends
 *   without a sell, is told.
 *
 * The steps of a pass are driven in order (the claim, the fill recorded, the exit planned).
 * Through the real ccxt client against the fake Binance, on the real PostgreSQL when
 * TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import type { Exchange } from "../../../exchange/port.ts";
import { ledgerBook, listAccounts } from "../../../execution/accounts.ts";
import { createApplyQueue } from "../../../execution/apply_queue.ts";
import { type AlertContext, processAlert } from "../../../execution/process.ts";
import { alerts } from "../../../signals/mod.ts";
import {
  alertOf,
  insertAlert,
  protectedConfig,
  testConfig,
  withLive,
} from "../../helpers/execution.ts";
import { expectNotification, serviceTest, until } from "../../helpers/fixtures.ts";
import type { FakeExchange } from "../../fakes/exchange.ts";

/** The pending cancel requests as if asked and last tried a minute ago: each try is due. */
const ageRequests = (db: Db) =>
  db.query(
    `update cancel_requests set created_at = now() - interval '60 s',
            updated_at = now() - interval '60 s' where status = 'PENDING'`,
  );

/** The limit buy whose create call was lost (hang-before): its client order id once given up. */
async function givenUpBuy(db: Db, agent: { reconcileOnce: () => Promise<unknown> }) {
  for (let i = 0; i < 4; i++) {
    await ageRequests(db);
    await agent.reconcileOnce();
  }
  const [lost] = await db.query<{ client_order_id: string; status: string }>(
    `select client_order_id, status from orders
      where side = 'buy' and type = 'limit' and reject_reason like '%never placed%'`,
  );
  assert.equal(lost?.status, "REJECTED", "given up as never placed");
  return lost.client_order_id;
}

/** The exchange books the lost create after all (a request stuck on the way), and it is due
 * for the recheck of given-up orders. */
async function bookedLate(db: Db, fake: FakeExchange, cid: string) {
  await fetch(`${fake.url}/api/v3/order`, {
    method: "POST",
    body: new URLSearchParams({
      symbol: "BTCUSDT",
      side: "BUY",
      type: "LIMIT",
      timeInForce: "GTC",
      quantity: "0.002",
      price: "45000",
      newClientOrderId: cid,
    }),
  }).then((r) => r.body?.cancel());
  await db.query(
    "update orders set checked_at = now() - interval '1 hour' where client_order_id = $1",
    [cid],
  );
  return fake.orders.find((o) => o.clientOrderId === cid)!;
}

const statusOf = async (db: Db, cid: string) =>
  (await db.query<{ status: string }>("select status from orders where client_order_id = $1", [
    cid,
  ]))[0].status;

const requestsOf = (db: Db, cid: string) =>
  db.query<{ status: string; error: string | null; requested_by: string }>(
    `select r.status, r.error, r.requested_by from cancel_requests r
       join orders o on o.id = r.order_id where o.client_order_id = $1 order by r.id`,
    [cid],
  );

const placedNotes = (db: Db, cid: string) =>
  db.query("select 1 from notification_outbox where kind = 'order_placed' and text like $1", [
    `%${cid}%`,
  ]);

/** A position of 0.002 BTC and a whole exit beside an add-on buy whose create call was lost. */
async function exitBesideLostBuy(
  { db, fake, agent }: {
    db: Db;
    fake: FakeExchange;
    agent: { runOnce: () => Promise<{ executed: number; unknown: number }> };
  },
) {
  await insertAlert(db, { qty: "0.002", sl: "49000" });
  await agent.runOnce();
  fake.fail("hang-before", 1, "LIMIT"); // the add-on never reaches the book, as far as we know
  await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
  assert.equal((await agent.runOnce()).unknown, 1);
  const sell = await insertAlert(db, { action: "sell" });
  assert.equal((await agent.runOnce()).executed, 1, "the exit sells at once");
  return sell;
}

Deno.test({
  ...serviceTest,
  name: "a buy given up as never placed whose cancel an exit asked for is cancelled when found " +
    "resting on the exchange, with one message",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        const sell = await exitBesideLostBuy({ db, fake, agent });
        const cid = await givenUpBuy(db, agent);
        const late = await bookedLate(db, fake, cid);
        await agent.reconcileOnce(); // found: recorded, its cancel asked again
        assert.equal(await statusOf(db, cid), "OPEN");
        await agent.reconcileOnce(); // the cancel sent, the order looked up
        assert.equal(late.status, "CANCELED", "cancelled on the exchange");
        assert.equal(await statusOf(db, cid), "CANCELED");
        assert.deepEqual(
          (await requestsOf(db, cid)).map((r) => [r.status, r.requested_by]),
          [["DONE", `exit:alert ${sell}`], ["DONE", `exit:alert ${sell}`]],
          "closed when given up, then asked again and carried out",
        );
        await expectNotification(db, "order_found_late", {
          count: 1,
          severity: "WARN",
          text: new RegExp(
            `${cid} \\(buy 0\\.002 BTC/USDT\\) was given up as never placed but rests on the ` +
              `exchange \\(OPEN\\): exit alert ${sell} had asked for its cancel, so it is ` +
              "cancelled now$",
          ),
        });
        assert.equal((await placedNotes(db, cid)).length, 0, "not told as placed");
        fake.setPrice("BTCUSDT", "44900"); // the old limit is reached: nothing is bought
        await agent.reconcileOnce();
        assert.equal((await db.query("select 1 from positions where status = 'OPEN'")).length, 0);
      },
      300,
      testConfig,
    ),
});

Deno.test({
  ...serviceTest,
  name: "a buy given up as never placed whose cancel an exit asked for and that filled is found " +
    "held with its stop, told once, its cancel recorded as failed",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        const sell = await exitBesideLostBuy({ db, fake, agent });
        const cid = await givenUpBuy(db, agent);
        const late = await bookedLate(db, fake, cid);
        fake.setPrice("BTCUSDT", "44900"); // it fills before the recheck finds it
        assert.equal(late.status, "FILLED");
        await agent.reconcileOnce();
        assert.equal(await statusOf(db, cid), "FILLED");
        const held = await db.query<{ status: string; qty: string; stop_price: string }>(
          "select status, qty::text, stop_price::text from positions order by id",
        );
        assert.deepEqual(held.map((p) => [p.status, Number(p.qty), Number(p.stop_price)]), [
          ["CLOSED", 0, 49000],
          ["OPEN", 0.002, 44000],
        ]);
        await expectNotification(db, "order_found_late", {
          count: 1,
          severity: "CRITICAL",
          text: new RegExp(
            `${cid} \\(buy 0\\.002 BTC/USDT\\) was given up as never placed but filled 0\\.002 ` +
              `at 45000 on the exchange \\(FILLED\\); it is now recorded\\. Exit alert ${sell} ` +
              "had asked for its cancel, and nothing sold what it bought\\. The 0\\.002 bought " +
              "is held as an open position, guarded by its stop 44000; sell it if it is not " +
              "wanted$",
          ),
        });
        await expectNotification(db, "filled_after_exit", { count: 0 });
        const [request] = await requestsOf(db, cid);
        assert.equal(request.status, "FAILED", "the cancel did not happen");
        assert.match(
          request.error ?? "",
          /the order filled 0\.002\d* of 0\.002\d* first \(FILLED\)/,
        );
        await agent.reconcileOnce();
        assert.equal((await requestsOf(db, cid)).length, 1, "nothing more to cancel");
      },
      300,
      testConfig,
    ),
});

Deno.test({
  ...serviceTest,
  name: "a buy given up as never placed before an exit of the whole position came is cancelled " +
    "when found resting after that exit",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        await insertAlert(db, { qty: "0.002", sl: "49000" });
        await agent.runOnce();
        fake.fail("hang-before", 1, "LIMIT");
        await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
        assert.equal((await agent.runOnce()).unknown, 1);
        const cid = await givenUpBuy(db, agent); // no exit yet: its signal is planned again
        await agent.runOnce();
        const again = fake.orders.find((o) => o.type === "LIMIT")!;
        assert.equal(again.status, "NEW", "attempt 2 rests");
        const sell = await insertAlert(db, { action: "sell" });
        assert.equal((await agent.runOnce()).executed, 1);
        await agent.reconcileOnce();
        assert.equal(again.status, "CANCELED", "the exit had attempt 2 cancelled");
        const late = await bookedLate(db, fake, cid);
        await agent.reconcileOnce();
        await agent.reconcileOnce();
        assert.equal(late.status, "CANCELED", "attempt 1, found late, is cancelled too");
        assert.deepEqual((await requestsOf(db, cid)).map((r) => [r.status, r.requested_by]), [
          ["DONE", `exit:alert ${sell}`],
        ]);
        await expectNotification(db, "order_found_late", {
          count: 1,
          severity: "WARN",
          text: new RegExp(
            `${cid} .*rests on the exchange \\(OPEN\\): exit alert ${sell} of the whole ` +
              "position came after it and would have cancelled it, so it is cancelled now$",
          ),
        });
      },
      300,
      testConfig,
    ),
});

Deno.test({
  ...serviceTest,
  name: "a buy given up as never placed whose signal was planned again is cancelled when found " +
    "resting beside the new order, so the signal is not bought twice",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        fake.fail("hang-before", 1, "LIMIT");
        await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
        assert.equal((await agent.runOnce()).unknown, 1);
        const cid = await givenUpBuy(db, agent); // its signal is planned again
        await agent.runOnce();
        const again = fake.orders.find((o) => o.type === "LIMIT" && o.clientOrderId !== cid)!;
        assert.equal(again.status, "NEW", "attempt 2 rests");
        const late = await bookedLate(db, fake, cid);
        await agent.reconcileOnce();
        assert.equal(late.status, "CANCELED", "attempt 1, found late, is cancelled");
        assert.equal(await statusOf(db, cid), "CANCELED");
        await expectNotification(db, "order_apply_failed", { count: 0 });
        await expectNotification(db, "order_found_late", {
          count: 1,
          severity: "WARN",
          text: new RegExp(
            `${cid} \\(buy 0\\.002 BTC/USDT\\) was given up as never placed, and its signal ` +
              `was planned again as order ${again.clientOrderId}, but it is on the exchange: it ` +
              "is cancelled now \\(CANCELED\\)$",
          ),
        });
        fake.setPrice("BTCUSDT", "44900"); // the limit is reached: only attempt 2 buys
        await agent.reconcileOnce();
        assert.equal(again.status, "FILLED");
        assert.ok(Math.abs(fake.balance("BTC") - 0.002) < 1e-12, "bought once");
        const held = await db.query<{ qty: string }>(
          "select qty::text from positions where status = 'OPEN'",
        );
        assert.deepEqual(held.map((p) => Number(p.qty)), [0.002]);
      },
      300,
      testConfig,
    ),
});

/** The context a pass gives each alert of the default account (agent.ts). */
async function alertContext(db: Db, exchange: Exchange, config = testConfig) {
  const [account] = await listAccounts(db);
  return {
    db,
    account,
    exchange,
    clock: systemClock,
    log: logger("test"),
    config,
    inFlight: new Set<string>(),
    applyAnswer: createApplyQueue(db, ledgerBook(exchange.mode)),
    pauseEntries: () => {},
    entriesPaused: () => false,
  } satisfies AlertContext;
}

/** A limit buy resting below the market, nothing held, and a whole exit waiting for its cancel,
 * which the exchange keeps refusing. */
async function exitWaitingForBuy(
  { db, fake, agent }: {
    db: Db;
    fake: FakeExchange;
    agent: {
      runOnce: () => Promise<{ deferred: number }>;
      reconcileOnce: () => Promise<unknown>;
    };
  },
) {
  await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
  await agent.runOnce();
  const buy = fake.orders.find((o) => o.type === "LIMIT")!;
  fake.failRequests(`DELETE order ${buy.clientOrderId}`, 1_000, "unknown-order");
  const sell = await insertAlert(db, { action: "sell" });
  assert.equal((await agent.runOnce()).deferred, 1, "nothing held: the exit waits for the buy");
  await agent.reconcileOnce();
  assert.equal(buy.status, "NEW", "the cancel was refused; the buy rests");
  return { buy, sell };
}

const sellsOf = (fake: FakeExchange) =>
  fake.orders.filter((o) => o.side === "SELL").map((o) => [o.type, Number(o.executedQty)]);

Deno.test({
  ...serviceTest,
  name: "a buy that fills while a pass has the exit waiting for it claimed is sold by that exit, " +
    "and no one is told it is held",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      const { sell } = await exitWaitingForBuy({ db, fake, agent });
      // A pass claims the exit …
      const [claimed] = await alerts.claimReceived(db, 10);
      assert.equal(claimed.id, sell);
      // … and before it reads the position, the buy fills and the fill is recorded.
      fake.setPrice("BTCUSDT", "44900");
      await agent.reconcileOnce();
      // The pass goes on with the exit.
      const ctx = await alertContext(db, exchange);
      assert.equal(await processAlert(ctx, claimed, new Map()), "executed");
      assert.equal((await alertOf(db, sell)).status, "EXECUTED");
      assert.deepEqual(sellsOf(fake), [["MARKET", 0.002]], "the exit sold what the buy bought");
      assert.equal((await db.query("select 1 from positions where status = 'OPEN'")).length, 0);
      await expectNotification(db, "filled_after_exit", { count: 0 });
    }),
});

/**
 * The claimed exit planned by the pass, with `meanwhile` run once it has read the position and
 * waits for the balance (held by the fake); its outcome.
 */
async function exitPlannedAround(
  { db, fake, exchange }: { db: Db; fake: FakeExchange; exchange: Exchange },
  config: typeof testConfig,
  meanwhile: () => Promise<void>,
) {
  const [claimed] = await alerts.claimReceived(db, 10);
  const gate = fake.hold("GET account");
  const pass = processAlert(await alertContext(db, exchange, config), claimed, new Map());
  try {
    await until("the exit read the position", () => gate.waiting() > 0);
    await meanwhile();
  } finally {
    gate.release();
    await pass.catch(() => {});
  }
  return await pass;
}

/** The buy fills and its fill is recorded; the exit has not ended, so nothing is told yet. */
async function buyFillsNow(
  db: Db,
  fake: FakeExchange,
  agent: { reconcileOnce: () => Promise<unknown> },
) {
  fake.setPrice("BTCUSDT", "44900");
  await agent.reconcileOnce();
  await expectNotification(db, "filled_after_exit", { count: 0 });
}

Deno.test({
  ...serviceTest,
  name: "a buy that fills after a claimed exit read the position is told held once the exit " +
    "sold, or ended without a sell",
  fn: async (t) => {
    await t.step("the exit sells what was held before", () =>
      withLive(
        async ({ db, fake, agent, exchange }) => {
          await insertAlert(db, { qty: "0.002", sl: "49000" }); // held, its stop on the exchange
          await agent.runOnce();
          await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
          await agent.runOnce();
          const buy = fake.orders.find((o) => o.type === "LIMIT")!;
          fake.failRequests(`DELETE order ${buy.clientOrderId}`, 1_000, "unknown-order");
          const sell = await insertAlert(db, { action: "sell" });
          assert.equal((await agent.runOnce()).deferred, 1, "the exit waits for the stop");
          await agent.reconcileOnce(); // the stop is cancelled; the buy's cancel refused
          const outcome = await exitPlannedAround(
            { db, fake, exchange },
            protectedConfig,
            () => buyFillsNow(db, fake, agent),
          );
          assert.equal(outcome, "executed");
          assert.deepEqual(
            sellsOf(fake).filter(([type]) => type === "MARKET"),
            [["MARKET", 0.002]],
            "the exit sold what it read",
          );
          const [open] = await db.query<{ qty: string }>(
            "select qty::text from positions where status = 'OPEN'",
          );
          assert.equal(Number(open.qty), 0.002, "the buy's fill is held");
          await expectNotification(db, "filled_after_exit", {
            count: 1,
            severity: "WARN",
            text: new RegExp(
              `${buy.clientOrderId}.*filled 0\\.002 .*exit alert ${sell}.*did not sell it\\. ` +
                "It is held as an open position",
            ),
          });
        },
        10_000,
        protectedConfig,
      ));
    await t.step(
      "the exit is refused: nothing was held when it read the position",
      () =>
        withLive(async ({ db, fake, agent, exchange }) => {
          const { buy, sell } = await exitWaitingForBuy({ db, fake, agent });
          const outcome = await exitPlannedAround(
            { db, fake, exchange },
            testConfig,
            () => buyFillsNow(db, fake, agent),
          );
          assert.equal(outcome, "rejected");
          assert.deepEqual(sellsOf(fake), []);
          await expectNotification(db, "filled_after_exit", {
            count: 1,
            severity: "WARN",
            text: new RegExp(
              `${buy.clientOrderId}.*exit alert ${sell}.*did not sell it\\. It is held`,
            ),
          });
        }, 10_000),
    );
  },
});
