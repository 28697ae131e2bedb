/**
 * An order proven never placed (recorded NEW, the process killed before ccxt sent it, then
 * not found after several lookups) hands its alert back to be planned again under a new
 * client order id: fresh entries and every exit are traded, stale entries refused, and there
 * is never a second order while the first one's fate is unknown.
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
import type { Db } from "../../../db/db.ts";
import { TemporaryError } from "../../../core/errors.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;

/** What a kill -9 leaves behind: the alert PROCESSING, its order NEW, nothing sent. */
async function crashedBeforeSend(
  db: Db,
  key: string,
  d: { action?: "buy" | "sell"; ts?: string } = {},
): Promise<number> {
  const id = await insertAlert(
    db,
    { idempotencyKey: key, qty: "0.001", sl: "49000", ...d },
    "pine",
  );
  await db.query("update inbound_alerts set status = 'PROCESSING' where id = $1", [id]);
  const attempt = await count(db, "select 1 from orders where idempotency_key = $1", [key]) + 1;
  await db.query(
    `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key,
                         client_order_id, alert_id, purpose)
     values ('binance', 'BTC/USDT', $4, 0.001, 50000, $1, $2, $3, $5)`,
    [
      key,
      await clientOrderIdFor(key, attempt),
      id,
      d.action ?? "buy",
      d.action === "sell" ? "exit" : "entry",
    ],
  );
  return id;
}

const orders = async (db: Db, key: string) => [
  ...await db.query<{ client_order_id: string; status: string }>(
    "select client_order_id, status from orders where idempotency_key = $1 order by id",
    [key],
  ),
];

Deno.test({
  ...opts,
  name: "an order never placed hands its alert back and it is traded under a new client order id",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      const id = await crashedBeforeSend(db, "replan-1");
      assert.equal(await agent.recover(), 0, "an alert with an order waits for reconciliation");
      await agent.reconcileOnce();
      await agent.reconcileOnce();
      assert.equal((await orders(db, "replan-1"))[0].status, "NEW", "two misses prove nothing");
      assert.equal((await agent.runOnce()).claimed, 0, "no second order while the first is open");
      await agent.reconcileOnce();
      const handed = await alertOf(db, id);
      assert.equal(handed.status, "RECEIVED");
      assert.match(handed.error ?? "", /never placed.*planned again/);
      assert.equal(fake.requests["POST order"], undefined);

      await agent.runOnce();
      assert.deepEqual(await orders(db, "replan-1"), [
        { client_order_id: await clientOrderIdFor("replan-1", 1), status: "REJECTED" },
        { client_order_id: await clientOrderIdFor("replan-1", 2), status: "FILLED" },
      ]);
      assert.equal((await alertOf(db, id)).status, "EXECUTED");
      assert.equal(fake.requests["POST order"], 1, "exactly one order reached the exchange");
      assert.equal(
        await count(db, "select 1 from notification_outbox where kind = 'order_never_placed'"),
        1,
      );
      // The given-up order is rechecked later; still absent, it changes nothing.
      const later = await executionSetup(db, exchange, { givenUpRecheckMs: 0 });
      await later.reconcileOnce();
      assert.equal(await count(db, "select 1 from executions"), 1);
    }),
});

Deno.test({
  ...opts,
  name: "a handed-back entry older than SIGNAL_MAX_AGE_S is refused; a handed-back exit is traded",
  fn: () =>
    withLive(async ({ db, fake, exchange }) => {
      const strict = createExecutionAgent({
        db,
        exchange,
        clock: systemClock,
        log: logger("test"),
        config: { ...testConfig, risk: { perTradePct: 1, signalMaxAgeS: 60 } },
        tuning: { minAgeMs: 0, notFoundMinAgeMs: 0 },
      });
      const old = new Date(Date.now() - 10 * 60_000).toISOString();
      const entry = await crashedBeforeSend(db, "stale-entry", { ts: old });
      for (let i = 0; i < 3; i++) await strict.reconcileOnce();
      await strict.runOnce();
      assert.equal((await alertOf(db, entry)).status, "REJECTED");
      assert.match((await alertOf(db, entry)).error ?? "", /SIGNAL_MAX_AGE_S=60/);
      assert.equal(fake.requests["POST order"], undefined, "a stale entry is not traded late");

      // A position to exit (traded now), then an exit that died before it was sent.
      await insertAlert(db, { qty: "0.002", sl: "49000" }, "pine");
      await strict.runOnce();
      const exit = await crashedBeforeSend(db, "late-exit", { action: "sell", ts: old });
      for (let i = 0; i < 3; i++) await strict.reconcileOnce();
      await strict.runOnce();
      assert.equal((await alertOf(db, exit)).status, "EXECUTED", "closing late beats staying open");
      assert.deepEqual((await orders(db, "late-exit")).map((o) => o.status), [
        "REJECTED",
        "FILLED",
      ]);
      assert.equal(fake.requests["POST order"], 2);
    }),
});

Deno.test({
  ...opts,
  name: "an alert whose orders keep going unplaced is set aside after a bounded number of tries",
  fn: () =>
    withLive(async ({ db, exchange }) => {
      const agent = await executionSetup(db, exchange, { replansMax: 2 });
      const id = await crashedBeforeSend(db, "never-1");
      for (let i = 0; i < 3; i++) await agent.reconcileOnce();
      assert.equal((await alertOf(db, id)).status, "RECEIVED");
      // The second attempt dies the same way.
      await db.query("update inbound_alerts set status = 'PROCESSING' where id = $1", [id]);
      await db.query(
        `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key,
                             client_order_id, alert_id)
         values ('binance', 'BTC/USDT', 'buy', 0.001, 50000, 'never-1', $1, $2)`,
        [await clientOrderIdFor("never-1", 2), id],
      );
      for (let i = 0; i < 3; i++) await agent.reconcileOnce();
      assert.equal((await alertOf(db, id)).status, "FAILED");
      assert.equal(await count(db, "select 1 from orders where status <> 'REJECTED'"), 0);
    }),
});

Deno.test({
  ...opts,
  name: "an order settled while reconciliation was deciding is never given up nor replanned",
  fn: () =>
    withLive(async ({ db, fake, exchange }) => {
      const id = await crashedBeforeSend(db, "replan-late");
      let lookups = 0;
      // The third lookup misses too, but meanwhile the order's answer was recorded (late).
      const watched = {
        ...exchange,
        fetchOrderByClientId: async (cid: string, symbol: string) => {
          if (++lookups === 3) {
            await db.query(
              "update orders set status = 'OPEN', exchange_order_id = 'late-1' where client_order_id = $1",
              [cid],
            );
          }
          return await exchange.fetchOrderByClientId(cid, symbol);
        },
      };
      const agent = await executionSetup(db, watched);
      for (let i = 0; i < 3; i++) await agent.reconcileOnce();
      assert.equal(lookups >= 3, true);
      assert.deepEqual((await orders(db, "replan-late")).map((o) => o.status), ["OPEN"]);
      assert.equal((await alertOf(db, id)).status, "PROCESSING", "not handed back");
      await agent.runOnce();
      assert.equal(fake.requests["POST order"], undefined, "no second order");
      assert.equal(
        await count(db, "select 1 from orders where idempotency_key = 'replan-late'"),
        1,
      );
    }),
});

Deno.test({
  ...opts,
  name: "orders whose lookup keeps failing do not starve the others of reconciliation",
  fn: () =>
    withLive(async ({ db, exchange }) => {
      // More failing orders than one pass takes (limits.reconcileBatchSize = 100), made first.
      for (let i = 0; i < 101; i++) {
        await db.query(
          `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key,
                               client_order_id, purpose)
           values ('binance', 'ETH/USDT', 'buy', 0.01, 3000, $1, $2, 'entry')`,
          [`lost-${i}`, await clientOrderIdFor(`lost-${i}`, 1)],
        );
      }
      const id = await crashedBeforeSend(db, "behind-them");
      const failing = {
        ...exchange,
        fetchOrderByClientId: async (cid: string, symbol: string) => {
          if (symbol === "ETH/USDT") throw new TemporaryError("lookup failed (test)");
          return await exchange.fetchOrderByClientId(cid, symbol);
        },
      };
      const agent = await executionSetup(db, failing);
      for (let i = 0; i < 8; i++) await agent.reconcileOnce();
      assert.equal((await alertOf(db, id)).status, "RECEIVED", "its order was looked at");
    }),
});

Deno.test({
  ...opts,
  name: "an order insert that committed after its pass gave up is reconciled, not a duplicate",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      // A pool query bounded at 30 s was reported as the database down, the alert handed back,
      // and the insert committed afterwards: the alert is RECEIVED with its own order NEW.
      const id = await crashedBeforeSend(db, "late-insert");
      await db.query("update inbound_alerts set status = 'RECEIVED' where id = $1", [id]);
      await agent.runOnce();
      assert.notEqual((await alertOf(db, id)).status, "DUPLICATE", "its own order is no duplicate");
      assert.equal(fake.requests["POST order"], undefined, "never sent blind");
      for (let i = 0; i < 3; i++) await agent.reconcileOnce();
      await agent.runOnce();
      assert.equal((await alertOf(db, id)).status, "EXECUTED");
      assert.deepEqual((await orders(db, "late-insert")).map((o) => o.status), [
        "REJECTED",
        "FILLED",
      ]);
      assert.equal(fake.requests["POST order"], 1, "exactly one order reached the exchange");
    }),
});
