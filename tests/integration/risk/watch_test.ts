/**
 * Software stops and targets: the Risk agent against the fake Binance through the real ccxt
 * client, with the real Execution agent selling what it hands over. Runs on the real
 * PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { alertOf, count, insertAlert, withLive } from "../../helpers/execution.ts";
import { createRiskAgent } from "../../../risk/watch.ts";
import { workQueue } from "../../../runtime/context.ts";
import { startLoop } from "../../../core/loop.ts";
import { systemClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import type { Exchange } from "../../../exchange/port.ts";
import { expectNotification, insertStrategy, serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;
const log = logger("test");

type Agent = { runOnce(): Promise<{ executed: number }> };

/** Buys 0.01 BTC at 50000 with a stop at 49000 and a target at 55000; returns the position id. */
async function openPosition(db: Db, agent: Agent, d: Record<string, string> = {}) {
  await insertAlert(db, { qty: "0.01", sl: "49000", tp: "55000", ...d });
  assert.equal((await agent.runOnce()).executed, 1);
  const [p] = await db.query<{ id: number; status: string }>(
    "select id, status from positions where status = 'OPEN'",
  );
  assert.ok(p, "the buy opened a position");
  return p.id;
}

const actions = (db: Db) =>
  db.query<{ kind: string; status: string; params: Record<string, string>; alert_id: number }>(
    "select kind, status, params, alert_id from risk_actions order by id",
  );

Deno.test({
  ...opts,
  name: "a price below the stop hands over one exit that execution sells, once",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      const positionId = await openPosition(db, agent);
      const queue = workQueue<number>();
      const risk = createRiskAgent({ db, exchange, log, queue });

      fake.setPrice("BTCUSDT", "48500");
      const s = await risk.runOnce();
      assert.deepEqual([s.watched, s.handed, s.tickerFailures], [1, 1, 0]);
      const [a] = await actions(db);
      assert.deepEqual([a.kind, a.status, a.params.trigger_price, Number(a.params.last_price)], [
        "stop_loss",
        "PLANNED",
        "49000",
        48500,
      ]);
      const [alert] = await db.query<
        { source: string; status: string; decision: Record<string, string> }
      >(
        "select source, status, decision from inbound_alerts where id = $1",
        [a.alert_id],
      );
      assert.equal(alert.source, "risk");
      assert.equal(alert.status, "RECEIVED");
      assert.deepEqual([alert.decision.action, alert.decision.qty], ["sell", undefined]);
      assert.match(
        alert.decision.idempotencyKey,
        new RegExp(`^risk:stop_loss:${positionId}:\\d+$`),
      );
      assert.deepEqual(queue.drain(), [a.alert_id]);
      await expectNotification(db, "stop_loss", { severity: "WARN", count: 1 });

      // Execution sells all of it at market; the next pass settles the action.
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, a.alert_id)).status, "EXECUTED");
      const [p] = await db.query<{ status: string; qty: string }>(
        "select status, qty::text from positions where id = $1",
        [positionId],
      );
      assert.deepEqual([p.status, Number(p.qty)], ["CLOSED", 0]);
      assert.equal(fake.orders.at(-1)?.side, "SELL");

      const again = await risk.runOnce();
      assert.deepEqual([again.handed, again.settled, again.watched], [0, 1, 0]);
      const [done] = await actions(db);
      assert.equal(done.status, "DONE");
      assert.equal(await count(db, "select 1 from inbound_alerts where source = 'risk'"), 1);
      assert.equal((await risk.runOnce()).handed, 0);
    }),
});

Deno.test({
  ...opts,
  name: "a price between stop and target does nothing; above the target is an INFO exit",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await openPosition(db, agent);
      const risk = createRiskAgent({ db, exchange, log });
      fake.setPrice("BTCUSDT", "52000");
      assert.deepEqual((await risk.runOnce()).handed, 0);
      assert.equal(await count(db, "select 1 from risk_actions"), 0);
      assert.equal(await count(db, "select 1 from inbound_alerts where source = 'risk'"), 0);

      fake.setPrice("BTCUSDT", "56000");
      assert.equal((await risk.runOnce()).handed, 1);
      const [a] = await actions(db);
      assert.deepEqual([a.kind, a.status], ["take_profit", "PLANNED"]);
      await expectNotification(db, "take_profit", { severity: "INFO", count: 1 });
      // A planned exit is not planned again while it is in flight.
      assert.equal((await risk.runOnce()).handed, 0);
      assert.equal(await count(db, "select 1 from risk_actions"), 1);
    }),
});

Deno.test({
  ...opts,
  name: "a disabled strategy does not block its stop exit",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await insertStrategy(db, "trend");
      const positionId = await openPosition(db, agent, { strategy: "trend" });
      await db.query("update strategies set enabled = false where name = 'trend'");
      const risk = createRiskAgent({ db, exchange, log });
      fake.setPrice("BTCUSDT", "48000");
      assert.equal((await risk.runOnce()).handed, 1);
      assert.equal((await agent.runOnce()).executed, 1);
      const [p] = await db.query<{ status: string }>("select status from positions where id = $1", [
        positionId,
      ]);
      assert.equal(p.status, "CLOSED");
    }),
});

Deno.test({
  ...opts,
  name:
    "an exit that does not close the position is FAILED with a WARN, re-armed, then left to the operator",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      const positionId = await openPosition(db, agent);
      const risk = createRiskAgent({ db, exchange, log });
      fake.setPrice("BTCUSDT", "48000");
      assert.equal((await risk.runOnce()).handed, 1);
      const failOnce = async () => {
        // Sold by hand meanwhile: the exit finds nothing to sell; then the position is back.
        await db.query("update positions set qty = 0, status = 'CLOSED' where id = $1", [
          positionId,
        ]);
        await agent.runOnce();
        await db.query("update positions set qty = 0.01, status = 'OPEN' where id = $1", [
          positionId,
        ]);
        return await risk.runOnce();
      };
      let s = await failOnce();
      assert.deepEqual([s.settled, s.handed], [1, 1], "settled FAILED, then attempt 2");
      const [failed] = await db.query<{ status: string; error: string }>(
        "select status, error from risk_actions order by id limit 1",
      );
      assert.equal(failed.status, "FAILED");
      assert.match(failed.error, /no open BTC\/USDT position/);
      const warns = () =>
        db.query<{ severity: string; text: string }>(
          "select severity, text from notification_outbox where kind = 'risk_exit_failed' order by id",
        );
      assert.equal((await warns()).length, 1);
      assert.match((await warns())[0].text, /stays armed \(attempt 1 of 3\)/);

      s = await failOnce();
      assert.deepEqual([s.settled, s.handed], [1, 1], "attempt 3");
      s = await failOnce();
      assert.deepEqual([s.settled, s.handed], [1, 0], "no 4th attempt");
      const last = (await warns()).at(-1)!;
      assert.equal(last.severity, "CRITICAL");
      assert.match(last.text, /close the position by hand/);
      assert.equal((await risk.runOnce()).handed, 0);
      assert.equal(await count(db, "select 1 from inbound_alerts where source = 'risk'"), 3);
    }),
});

Deno.test({
  ...opts,
  name: "a ticker failure is no trigger and does not stop the loop; the next pass exits",
  fn: () =>
    withLive(async ({ db, fake, agent, exchange }) => {
      await openPosition(db, agent);
      fake.setPrice("BTCUSDT", "48000");
      fake.maintenance(true);
      const risk = createRiskAgent({ db, exchange, log });
      // Not one price: the pass fails (the loop counts it and raises it if it lasts).
      await assert.rejects(risk.runOnce(), /no price for any of the 1 watched position/);
      assert.equal(await count(db, "select 1 from risk_actions"), 0);

      // Through the loop: a fetch that throws any error leaves the loop running.
      let calls = 0;
      const broken: Pick<Exchange, "id" | "fetchTicker"> = {
        id: exchange.id,
        fetchTicker: () => {
          calls++;
          return Promise.reject(new Error("socket hang up"));
        },
      };
      const stop = new AbortController();
      let passes = 0;
      const flaky = createRiskAgent({ db, exchange: broken, log });
      const loop = startLoop({
        name: "risk",
        intervalMs: 1,
        maxBackoffMs: 5,
        signal: stop.signal,
        clock: systemClock,
        log,
        run: async () => {
          if (++passes >= 3) stop.abort();
          await flaky.runOnce();
        },
      });
      await loop.stopped;
      assert.equal(passes, 3);
      assert.equal(calls, 3, "the loop kept running through the failures");

      fake.maintenance(false);
      assert.equal((await risk.runOnce()).handed, 1);
    }),
});

Deno.test({
  ...opts,
  name:
    "a symbol without a price for a minute while others are priced is told once, and its return",
  fn: () =>
    withLive(async ({ db, agent, exchange }) => {
      await openPosition(db, agent);
      await insertAlert(db, { symbol: "ETH/USDT", qty: "0.1", sl: "2900", tp: "3500" });
      assert.equal((await agent.runOnce()).executed, 1);
      let ethDown = true;
      const market = {
        id: exchange.id,
        fetchTicker: (symbol: string) =>
          ethDown && symbol === "ETH/USDT"
            ? Promise.reject(new Error("ETH/USDT ticker unavailable"))
            : exchange.fetchTicker(symbol),
      };
      let clock = Date.parse("2026-03-02T10:00:00Z");
      const risk = createRiskAgent({ db, exchange: market, log, now: () => clock });
      const gapWarnings = () =>
        count(db, "select 1 from notification_outbox where kind = 'price_missing'");

      assert.equal((await risk.runOnce()).tickerFailures, 1);
      clock += 30_000;
      await risk.runOnce();
      assert.equal(await gapWarnings(), 0, "half a minute is not yet an outage");
      clock += 31_000;
      await risk.runOnce();
      clock += 60_000;
      await risk.runOnce();
      assert.equal(await gapWarnings(), 1, "told once per outage");
      const [warn] = await db.query<{ severity: string; text: string }>(
        "select severity, text from notification_outbox where kind = 'price_missing'",
      );
      assert.equal(warn.severity, "WARN");
      assert.match(warn.text, /No price for ETH\/USDT for 61 s .*ticker unavailable/);

      ethDown = false;
      await risk.runOnce();
      await risk.runOnce();
      await expectNotification(db, "price_recovered", { severity: "INFO", count: 1 });
    }),
});

Deno.test({
  ...opts,
  name: "no price for any symbol is the loop alarm's: no per-symbol warning",
  fn: () =>
    withLive(async ({ db, agent, exchange }) => {
      await openPosition(db, agent);
      let clock = Date.parse("2026-03-02T10:00:00Z");
      const market = {
        id: exchange.id,
        fetchTicker: () => Promise.reject(new Error("exchange down")),
      };
      const risk = createRiskAgent({ db, exchange: market, log, now: () => clock });
      for (let i = 0; i < 3; i++) {
        await assert.rejects(risk.runOnce(), /no price for any/);
        clock += 60_000;
      }
      assert.equal(
        await count(db, "select 1 from notification_outbox where kind = 'price_missing'"),
        0,
      );
    }),
});
