/**
 * A buy of the symbol that an exit asked to cancel, filling while a pass has that exit claimed:
 * the exit sells it, and no one is told it is held; one that fills after the exit read the
 * position, or whose exit ends without a sell, is told. Whether the exit sold it is decided once
 * the exit sold or ended.
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
