/**
 * Protective stops on the exchange, through the real ccxt client against the fake Binance (which
 * keeps STOP_LOSS_LIMIT orders resting and triggers them when its price moves): placed once
 * after an entry fills, recorded before the call, re-placed when cancelled on the exchange,
 * closing the position from the exchange's evidence when they fill, cancelled first by any exit,
 * and settled only from evidence after a timeout or a lost answer.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import {
  count,
  executionSetup,
  insertAlert,
  protectedConfig,
  withLive as withLiveAgent,
} from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { clientOrderIdFor } from "../../../execution/plan.ts";
import { createProtector, protectiveKey } from "../../../execution/protective.ts";
import { listAccounts } from "../../../execution/accounts.ts";
import type { Log } from "../../../core/log.ts";
import { createRiskAgent } from "../../../risk/watch.ts";
import { logger } from "../../../core/log.ts";
import { exitPosition } from "../../../control/actions.ts";
import { statusText } from "../../../control/views.ts";
import type { Db } from "../../../db/db.ts";
import type { FakeExchange } from "../../fakes/exchange.ts";

/** withLive with stops on the exchange turned on. */
const withLive = (fn: Parameters<typeof withLiveAgent>[0], timeoutMs?: number) =>
  withLiveAgent(fn, timeoutMs, protectedConfig);

const stopsOn = (fake: FakeExchange) => fake.orders.filter((o) => o.type === "STOP_LOSS_LIMIT");
const sellsOn = (fake: FakeExchange) => fake.orders.filter((o) => o.side === "SELL");

const position = async (db: Db) =>
  (await db.query<{ id: number; status: string; qty: string; opened_at: Date }>(
    "select id, status, qty::text, opened_at from positions order by id desc limit 1",
  ))[0];

const protective = (db: Db) =>
  db.query<{
    client_order_id: string;
    status: string;
    qty: string;
    price: string;
    stop_price: string;
    created_at: Date;
    submitted_at: Date | null;
  }>(
    `select client_order_id, status, qty::text, price::text, stop_price::text, created_at,
            submitted_at from orders where purpose = 'stop_loss' order by id`,
  );

const actions = (db: Db) =>
  db.query<{ status: string; order_id: number | null; given_up: boolean }>(
    `select status, order_id, coalesce((params ->> 'given_up')::boolean, false) as given_up
       from risk_actions where alert_id is null order by id`,
  );

const notes = async (db: Db, kind: string) => (await db.query<{ severity: string; text: string }>(
  "select severity, text from notification_outbox where kind = $1 order by id",
  [kind],
));

/** The stops' rows as a serve stopped that long ago left them: last looked at back then. */
const downFor = (db: Db, interval: string) =>
  db.query(
    `update orders set checked_at = checked_at - $1::interval, updated_at = updated_at - $1::interval
      where purpose = 'stop_loss'`,
    [interval],
  );

/** An entry of 0.01 BTC at 50000 with its stop at 49000 (limit 0.5 % below: 48755). */
const enter = (db: Db) => insertAlert(db, { qty: "0.01", sl: "49000" });

Deno.test({
  ...serviceTest,
  name: "an entry in live mode places exactly one protective stop, recorded before the call",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await enter(db);
      assert.equal((await agent.runOnce()).executed, 1);
      const p = await position(db);
      const stops = stopsOn(fake);
      assert.equal(stops.length, 1);
      assert.equal(stops[0].clientOrderId, clientOrderIdFor(protectiveKey(p), 1));
      assert.deepEqual(
        [stops[0].side, stops[0].origQty, stops[0].stopPrice, stops[0].price, stops[0].status],
        ["SELL", "0.01000000", "49000.00000000", "48755.00000000", "NEW"],
      );
      const [row] = await protective(db);
      assert.equal(row.client_order_id, stops[0].clientOrderId);
      assert.equal(row.status, "OPEN");
      assert.deepEqual([Number(row.qty), Number(row.stop_price), Number(row.price)], [
        0.01,
        49000,
        48755,
      ]);
      // Recorded first: the row existed before the exchange was called.
      assert.ok(row.submitted_at && row.created_at <= row.submitted_at);
      assert.deepEqual(
        (await actions(db)).map((a) => a.status),
        ["PLANNED"],
      );
      // Later passes find it protected and place nothing more.
      await agent.reconcileOnce();
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 1);
      // /status says where the stop rests; once it is cancelled, that none does.
      assert.match(await statusText(db), /stops resting on the exchange: all$/);
      await db.query("update orders set status = 'CANCELED' where purpose = 'stop_loss'");
      assert.match(await statusText(db), /stops resting on the exchange: none$/);
      await db.query("update orders set status = 'OPEN' where purpose = 'stop_loss'");
      // The software watch leaves the stop to the exchange: the price at the stop hands no exit.
      fake.setPrice("BTCUSDT", "49500");
      const risk = createRiskAgent({ db, exchange, log: logger("t") });
      assert.equal((await risk.runOnce()).handed, 0);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a stop off the tick is sent as the order row holds it: rounded up to the tick for a sell",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      // 49000.004 is between two ticks (0.01): the orders trigger rounds a sell's stop up, and
      // the exchange must get that very price, not the unrounded one (which ccxt would round to
      // the nearest tick, below the stop recorded).
      await insertAlert(db, { qty: "0.01", sl: "49000.004" });
      assert.equal((await agent.runOnce()).executed, 1);
      const [row] = await protective(db);
      assert.equal(Number(row.stop_price), 49000.01);
      const stops = stopsOn(fake);
      assert.equal(stops.length, 1);
      assert.equal(Number(stops[0].stopPrice), Number(row.stop_price));
      // The limit is below the stop as recorded, on the tick.
      assert.ok(Number(stops[0].price) < Number(row.stop_price));
      assert.equal(Number(stops[0].price), Number(row.price));
    }),
});

Deno.test({
  ...serviceTest,
  name: "the price falling through the stop fills it and closes the position from the evidence",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await enter(db);
      await agent.runOnce();
      fake.setPrice("BTCUSDT", "48900");
      assert.equal(stopsOn(fake)[0].status, "FILLED");
      await agent.reconcileOnce();
      const p = await position(db);
      assert.equal(p.status, "CLOSED");
      assert.equal(
        await count(
          db,
          "select 1 from executions e join orders o on o.id = e.order_id where o.purpose = 'stop_loss'",
        ),
        1,
      );
      const legs = await db.query<{ asset: string; kind: string; amount: string }>(
        `select t.asset, t.kind, t.amount::text from transactions t
           join orders o on o.id = t.order_id where o.purpose = 'stop_loss' order by t.id`,
      );
      assert.deepEqual(legs.map((l) => [l.asset, l.kind, Number(l.amount)]), [
        ["BTC", "trade", -0.01],
        ["USDT", "trade", 489],
        ["USDT", "fee", -0.489],
      ]);
      const fills = (await notes(db, "order_filled")).map((n) => n.text);
      assert.equal(fills.length, 2);
      assert.match(fills[1], /Sold 0\.01 BTC\/USDT at 48900.*why: stop-loss on the exchange/);
      assert.deepEqual((await actions(db)).map((a) => a.status), ["DONE"]);
      // Nothing more reaches the exchange.
      await agent.reconcileOnce();
      await agent.runOnce();
      assert.equal(sellsOn(fake).length, 1);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a stop cancelled on the exchange by a person is placed again in one pass, with a WARN",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await enter(db);
      await agent.runOnce();
      const first = stopsOn(fake)[0];
      fake.cancel(first.clientOrderId);
      await agent.reconcileOnce();
      const stops = stopsOn(fake);
      assert.equal(stops.length, 2);
      const p = await position(db);
      assert.equal(stops[1].clientOrderId, clientOrderIdFor(protectiveKey(p), 2));
      assert.equal(stops[1].status, "NEW");
      assert.deepEqual((await protective(db)).map((o) => o.status), ["CANCELED", "OPEN"]);
      assert.deepEqual((await actions(db)).map((a) => a.status), ["FAILED", "PLANNED"]);
      const warn = await notes(db, "protective_stop");
      assert.equal(warn.length, 1);
      assert.equal(warn[0].severity, "WARN");
      assert.match(warn[0].text, /was canceled on the exchange; placing it again/);
      // An expiry is handled the same way.
      fake.expire(stops[1].clientOrderId);
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 3);
      assert.equal((await notes(db, "protective_stop")).length, 2);
    }),
});

Deno.test({
  ...serviceTest,
  name:
    "a stop refused for good raises one CRITICAL and the software watch still sells at the stop",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      fake.fail("refuse", 1, "STOP_LOSS_LIMIT");
      await enter(db);
      assert.equal((await agent.runOnce()).executed, 1);
      assert.deepEqual((await protective(db)).map((o) => o.status), ["REJECTED"]);
      assert.deepEqual((await actions(db)).map((a) => [a.status, a.given_up]), [["FAILED", true]]);
      const critical = await notes(db, "protection_failed");
      assert.equal(critical.length, 1);
      assert.equal(critical[0].severity, "CRITICAL");
      assert.match(critical[0].text, /protected only while serve runs/);
      // Not tried again: the software watch is this position's backstop.
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 0);
      assert.equal((await notes(db, "protection_failed")).length, 1);
      // A quarter of an hour later it is tried again (the refusal may have passed), quietly.
      await db.query("update risk_actions set updated_at = now() - interval '16 minutes'");
      fake.fail("refuse", 1, "STOP_LOSS_LIMIT");
      await agent.reconcileOnce();
      assert.deepEqual((await protective(db)).map((o) => o.status), ["REJECTED", "REJECTED"]);
      assert.equal((await notes(db, "protection_failed")).length, 1, "one CRITICAL per position");
      // Nor a WARN for each retry's refusal: only the first attempt's.
      assert.equal((await notes(db, "order_rejected")).length, 1, "the retry is quiet");
      fake.setPrice("BTCUSDT", "48990");
      const risk = createRiskAgent({ db, exchange, log: logger("t") });
      assert.equal((await risk.runOnce()).handed, 1);
      await agent.runOnce();
      assert.equal((await position(db)).status, "CLOSED");
      assert.equal(sellsOn(fake).length, 1);
      assert.equal(sellsOn(fake)[0].type, "MARKET");
    }),
});

Deno.test({
  ...serviceTest,
  name: "an operator's exit cancels the resting stop first, then sells exactly the held quantity",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await enter(db);
      await agent.runOnce();
      const p = await position(db);
      const asked = await exitPosition(
        db,
        { via: "cli", who: "ops" },
        p.id,
        new Date(p.opened_at).getTime(),
      );
      assert.ok(asked.ok, asked.text);
      // The sell waits for the exchange to confirm the cancel.
      assert.equal((await agent.runOnce()).deferred, 1);
      assert.equal(stopsOn(fake)[0].status, "NEW");
      assert.equal(sellsOn(fake).length, 1);
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake)[0].status, "CANCELED");
      assert.deepEqual((await protective(db)).map((o) => o.status), ["CANCELED"]);
      // Not placed again while the exit is waiting.
      assert.equal(stopsOn(fake).length, 1);
      assert.equal((await agent.runOnce()).executed, 1);
      const sells = sellsOn(fake).filter((o) => o.type === "MARKET");
      assert.equal(sells.length, 1);
      assert.equal(Number(sells[0].origQty), Number(p.qty));
      assert.equal((await position(db)).status, "CLOSED");
      assert.equal((await notes(db, "protective_stop")).length, 0);
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 1);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a sell signal whose stop fills during the exit never sells twice",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await enter(db);
      await agent.runOnce();
      await insertAlert(db, { action: "sell" });
      assert.equal((await agent.runOnce()).deferred, 1);
      // The stop fills on the exchange before the cancel reaches it.
      fake.setPrice("BTCUSDT", "48900");
      await agent.reconcileOnce();
      assert.equal((await position(db)).status, "CLOSED");
      await agent.runOnce();
      assert.equal(sellsOn(fake).length, 1);
      assert.equal(sellsOn(fake)[0].type, "STOP_LOSS_LIMIT");
      const [alert] = await db.query<{ status: string; error: string }>(
        "select status, error from inbound_alerts where decision ->> 'action' = 'sell'",
      );
      assert.equal(alert.status, "REJECTED");
      assert.match(alert.error, /no open BTC\/USDT position to sell/);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a sell signal with a resting stop cancels it first and sells the held quantity once",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await enter(db);
      await agent.runOnce();
      await insertAlert(db, { action: "sell" });
      await agent.runOnce();
      await agent.reconcileOnce();
      await agent.runOnce();
      assert.deepEqual(sellsOn(fake).map((o) => [o.type, o.status]), [
        ["STOP_LOSS_LIMIT", "CANCELED"],
        ["MARKET", "FILLED"],
      ]);
      assert.equal((await position(db)).status, "CLOSED");
    }),
});

Deno.test({
  ...serviceTest,
  name: "a timeout while placing the stop leaves it UNKNOWN until reconciled; never placed twice",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.fail("hang", 1, "STOP_LOSS_LIMIT");
      await enter(db);
      await agent.runOnce();
      assert.deepEqual((await protective(db)).map((o) => o.status), ["UNKNOWN"]);
      await agent.reconcileOnce();
      assert.deepEqual((await protective(db)).map((o) => o.status), ["OPEN"]);
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 1);
    }, 500),
});

Deno.test({
  ...serviceTest,
  name: "a stop recorded but never placed (killed in between) is placed after a restart",
  fn: () =>
    withLive(async ({ db, fake, exchange }) => {
      // The create never reaches the book and never answers: as if the process died after
      // recording the stop. A new agent (a restart) knows only the database and the exchange.
      fake.fail("hang-before", 1, "STOP_LOSS_LIMIT");
      const first = await executionSetup(db, exchange, {}, protectedConfig);
      await enter(db);
      await first.runOnce();
      assert.deepEqual((await protective(db)).map((o) => o.status), ["UNKNOWN"]);
      assert.equal(stopsOn(fake).length, 0);
      const restarted = await executionSetup(db, exchange, {}, protectedConfig);
      // Three misses prove it was never placed (thresholds are zero in tests); then attempt 2.
      for (let i = 0; i < 4 && stopsOn(fake).length === 0; i++) await restarted.reconcileOnce();
      assert.deepEqual((await protective(db)).map((o) => o.status), ["REJECTED", "OPEN"]);
      assert.equal(stopsOn(fake).length, 1);
      const p = await position(db);
      assert.equal(stopsOn(fake)[0].clientOrderId, clientOrderIdFor(protectiveKey(p), 2));
    }, 500),
});

Deno.test({
  ...serviceTest,
  name: "a second buy the resting stop does not cover is watched by the software stop",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await enter(db);
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal(stopsOn(fake).length, 1);
      // A second buy adds to the position and moves its stop up; the exchange stop still
      // covers only the first 0.01 at 49000.
      await insertAlert(db, { qty: "0.01", sl: "49500" });
      assert.equal((await agent.runOnce()).executed, 1);
      const risk = createRiskAgent({ db, exchange, log: logger("test") });
      fake.setPrice("BTCUSDT", "49200");
      assert.equal((await risk.runOnce()).handed, 1, "below the position's own stop: an exit");
    }),
});

Deno.test({
  ...serviceTest,
  name: "a restarted watch leaves a stop that filled below its limit to the reconciler",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await enter(db);
      await agent.runOnce();
      // While nothing watches: the stop fills, then the price falls on below its limit.
      fake.setPrice("BTCUSDT", "48900");
      fake.setPrice("BTCUSDT", "48000");
      assert.equal(stopsOn(fake)[0].status, "FILLED");
      // A watch started now reads the stop's row from before: still OPEN, under a gap price.
      const risk = createRiskAgent({ db, exchange, log: logger("t") });
      assert.equal((await risk.runOnce()).handed, 0, "no software stop on an old row");
      await agent.reconcileOnce();
      assert.equal((await position(db)).status, "CLOSED");
      assert.deepEqual(await risk.runOnce(), {
        watched: 0,
        handed: 0,
        tickerFailures: 0,
        settled: 0,
      });
      assert.equal(await count(db, "select 1 from inbound_alerts where source = 'risk'"), 0);
      assert.equal(sellsOn(fake).length, 1);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a restarted watch takes a gap over once the reconciler found the stop still resting",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await enter(db);
      await agent.runOnce();
      // A gap through the stop and its limit at once: triggered, it rests unfilled.
      fake.setPrice("BTCUSDT", "48000");
      assert.equal(stopsOn(fake)[0].status, "NEW");
      const risk = createRiskAgent({ db, exchange, log: logger("t") });
      assert.equal((await risk.runOnce()).handed, 0, "the stop's row is older than the watch");
      await agent.reconcileOnce();
      assert.equal((await risk.runOnce()).handed, 1, "the software stop takes the gap over");
      // Its exit cancels the stop first, then sells the held quantity once.
      assert.equal((await agent.runOnce()).deferred, 1);
      await agent.reconcileOnce();
      assert.equal((await agent.runOnce()).executed, 1);
      assert.deepEqual(sellsOn(fake).map((o) => [o.type, o.status]), [
        ["STOP_LOSS_LIMIT", "CANCELED"],
        ["MARKET", "FILLED"],
      ]);
      assert.equal((await position(db)).status, "CLOSED");
    }),
});

Deno.test({
  ...serviceTest,
  name: "a restarted watch takes a gap over after its grace when the reconciler never got to " +
    "the stop",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await enter(db);
      await agent.runOnce();
      fake.setPrice("BTCUSDT", "48000");
      assert.equal(stopsOn(fake)[0].status, "NEW");
      // The reconciler does not get to the stop (the exchange does not answer its lookups):
      // after the grace (a minute in serve, a second here) the software stop acts anyway.
      const risk = createRiskAgent({ db, exchange, log: logger("t"), restartGraceMs: 1_000 });
      assert.equal((await risk.runOnce()).handed, 0, "within the grace the row is not trusted");
      await new Promise((r) => setTimeout(r, 1_200));
      assert.equal((await risk.runOnce()).handed, 1, "after it, the gap is the watch's");
      const [exit] = await db.query<{ decision: { action: string } }>(
        "select decision from inbound_alerts where source = 'risk'",
      );
      assert.equal(exit.decision.action, "sell");
    }),
});

Deno.test({
  ...serviceTest,
  name: "after a restart, a position whose price is past its stop gets no refused stop and no " +
    "CRITICAL: the software stop sells it",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      // Two resting limit buys; while serve is down both fill and the price falls on through
      // their stop. One of them filled before: its stop rested and was cancelled by hand.
      await insertAlert(db, { qty: "0.01", price: "49500", sl: "49000" }, "pine");
      await agent.runOnce();
      fake.setPrice("BTCUSDT", "49400");
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 1);
      fake.cancel(stopsOn(fake)[0].clientOrderId);
      fake.setPrice("BTCUSDT", "47000");
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 1, "nothing placed under the price");
      assert.equal((await notes(db, "protection_failed")).length, 0);
      assert.equal((await notes(db, "order_rejected")).length, 0);
      assert.equal((await notes(db, "protective_stop")).length, 1, "the cancel is told");
      // Logged once while the price stays under the stop, not every pass.
      const lines: string[] = [];
      const log = { info: (m: string) => lines.push(m), warn() {}, error() {} } as unknown as Log;
      const [account] = await listAccounts(db);
      for (let i = 0; i < 3; i++) {
        await createProtector({ db, exchange, account, log, inFlight: new Set() }).protectOnce();
      }
      assert.equal(
        lines.filter((l) => /no stop placed, the software stop sells it/.test(l)).length,
        1,
      );
      const risk = createRiskAgent({ db, exchange, log: logger("t") });
      assert.equal((await risk.runOnce()).handed, 1, "the software stop sells it");
      await agent.runOnce();
      assert.equal((await position(db)).status, "CLOSED");
      assert.deepEqual(sellsOn(fake).map((o) => [o.type, o.status]), [
        ["STOP_LOSS_LIMIT", "CANCELED"],
        ["MARKET", "FILLED"],
      ]);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a limit buy that filled while serve was down, the price now under its stop, is sold " +
    "by the software stop without a refused stop or a CRITICAL",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await insertAlert(db, { qty: "0.01", price: "49500", sl: "49000" }, "pine");
      await agent.runOnce();
      fake.setPrice("BTCUSDT", "49400");
      fake.setPrice("BTCUSDT", "47000");
      await agent.reconcileOnce();
      assert.equal((await position(db)).status, "OPEN");
      assert.equal(stopsOn(fake).length, 0);
      assert.equal((await protective(db)).length, 0);
      assert.equal((await notes(db, "protection_failed")).length, 0);
      assert.equal((await notes(db, "order_rejected")).length, 0);
      const risk = createRiskAgent({ db, exchange, log: logger("t") });
      assert.equal((await risk.runOnce()).handed, 1);
      await agent.runOnce();
      assert.equal((await position(db)).status, "CLOSED");
      // Should the price come back above the stop before it sells, the stop is placed.
      await insertAlert(db, { qty: "0.01", price: "46500", sl: "46000" }, "pine");
      await agent.runOnce();
      fake.setPrice("BTCUSDT", "46400");
      fake.setPrice("BTCUSDT", "45000");
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 0);
      fake.setPrice("BTCUSDT", "46200");
      await agent.reconcileOnce();
      assert.equal(stopsOn(fake).length, 1);
      assert.equal(stopsOn(fake)[0].status, "NEW");
    }),
});

Deno.test({
  ...serviceTest,
  name: "a restarted watch sells no target of a position whose stop filled while serve was down",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await insertAlert(db, { qty: "0.01", sl: "49000", tp: "52000" });
      await agent.runOnce();
      // serve is down for a while; meanwhile the stop fills, then the price climbs past the
      // target.
      await downFor(db, "2 hours");
      fake.setPrice("BTCUSDT", "48900");
      fake.setPrice("BTCUSDT", "53000");
      assert.equal(stopsOn(fake)[0].status, "FILLED");
      // A watch started now reads the position as it was: open, its stop resting.
      const risk = createRiskAgent({ db, exchange, log: logger("t") });
      assert.equal((await risk.runOnce()).handed, 0, "no target exit on an old row");
      await agent.reconcileOnce();
      assert.equal((await position(db)).status, "CLOSED");
      assert.equal((await risk.runOnce()).watched, 0);
      assert.equal(await count(db, "select 1 from inbound_alerts where source = 'risk'"), 0);
      assert.equal((await notes(db, "take_profit")).length, 0);
      assert.equal(sellsOn(fake).length, 1);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a restarted watch sells the target once the reconciler found the stop still resting",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await insertAlert(db, { qty: "0.01", sl: "49000", tp: "52000" });
      await agent.runOnce();
      await downFor(db, "2 hours");
      fake.setPrice("BTCUSDT", "53000");
      const risk = createRiskAgent({ db, exchange, log: logger("t") });
      assert.equal((await risk.runOnce()).handed, 0, "the stop's row is from before the downtime");
      await agent.reconcileOnce();
      assert.equal((await risk.runOnce()).handed, 1, "the target is sold");
      assert.equal((await notes(db, "take_profit")).length, 1);
    }),
});
