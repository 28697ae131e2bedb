/**
 * The same path inside `startService` with the registered component factories: with
 * STRATEGY_ENABLED=true, EXCHANGE_MODE=paper and EXCHANGE_API_URL at the fake Binance, a market
 * data tick that sees the EMA cross leads to one FILLED paper order through the intake and the
 * execution component's queue.
 *
 * The clock's time is fake and frozen (set by the test) while its sleeps are real: the
 * execution loops then poll at their usual pace instead of racing the time forward, and the
 * strategy judges candles by the time the test chose. The registered minute schedule may also
 * fire a tick during the test; ticks never overlap and a repeat of the same candles emits
 * nothing new, so it cannot change the outcome.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { count } from "../../helpers/execution.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { startService } from "../../../service/service.ts";
import { componentFactories } from "../../../service/components.ts";
import type { Component } from "../../../runtime/context.ts";
import type { StrategyComponent } from "../../../strategy/component.ts";
import { type Clock, fakeClock, systemClock } from "../../../core/clock.ts";
import { loadConfig } from "../../../core/config.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const MINUTE_MS = 60_000;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 30);
/** The fake's ±1 % wave crosses up (EMA 3/8) on the 12:14 candle, closed at 12:15. */
const CROSS_TS = Date.UTC(2026, 0, 1, 12, 14);
const KEY = "strategy:wave:BTC/USDT:2026-01-01T12:14:00.000Z:buy";

/** Polls until `done` holds, at most `tries` × 50 ms (a bound for a failing run, not a timing). */
async function until(done: () => Promise<boolean>, tries = 600): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await done()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const alertStatus = async (db: Db) =>
  (await db.query<{ status: string }>(
    "select status from inbound_alerts where idempotency_key = $1",
    [KEY],
  ))[0]?.status;

Deno.test({
  name: "under serve, a market data tick that sees the EMA cross leads to one paper order",
  // ccxt and the service keep sockets and timers of their own; everything is stopped below.
  ...serviceTest,
  async fn() {
    const t = await testDb();
    const { db } = t;
    const time = fakeClock(new Date(T0));
    const clock: Clock = { now: time.now, sleep: systemClock.sleep };
    const fake = startFakeExchange({ now: () => time.now().getTime() });
    const config = loadConfig({
      HTTP_PORT: "0",
      STRATEGY_ENABLED: "true",
      STRATEGY_NAME: "wave",
      SYMBOLS: "BTC/USDT",
      TIMEFRAME: "1m",
      EXCHANGE_ID: "binance",
      EXCHANGE_MODE: "paper",
      EXCHANGE_API_URL: fake.url,
      EXCHANGE_TIMEOUT_MS: "2000",
      PAPER_BALANCE: "10000",
    });
    // The operator's row: small EMAs and a wide RSI band, so the wave's cross is traded.
    await db.query(
      `insert into strategies (name, symbols, risk_pct, stop_pct, take_profit_pct, confidence_min,
                               params)
       values ('wave', '{BTC/USDT}', 1, 2, 4, 0.5, $1)`,
      [
        JSON.stringify({
          ema_fast: 3,
          ema_slow: 8,
          rsi_period: 5,
          rsi_overbought: 90,
          rsi_oversold: 10,
        }),
      ],
    );
    let strategy: StrategyComponent | undefined;
    const names: string[] = [];
    const service = await startService(config, {
      db,
      clock,
      // The registered factories, only watched: the test needs the strategy part's tick().
      factories: componentFactories.map((factory) => async (ctx) => {
        const c: Component | undefined = await factory(ctx);
        if (c) names.push(c.name);
        if (c?.name === "strategy") strategy = c as StrategyComponent;
        return c;
      }),
    });
    try {
      assert.ok(names.includes("execution") && names.includes("strategy"), names.join(", "));
      assert.match(strategy!.describe!(), /strategy "wave" \(strategies table\): EMA 3\/8/);
      // The start-up run (or one after it) stores the window of candles; no cross is recent.
      await strategy!.tick();
      assert.equal(await count(db, "select 1 from candles where symbol = 'BTC/USDT'"), 1000);
      assert.equal(await count(db, "select 1 from inbound_alerts"), 0);

      time.set(new Date(CROSS_TS + MINUTE_MS + 30_000));
      // A tick already running (the minute schedule) is joined rather than overlapped; the
      // second call then runs one that starts after the new time.
      await strategy!.tick();
      if ((await alertStatus(db)) === undefined) await strategy!.tick();

      assert.ok(
        await until(async () => (await alertStatus(db)) === "EXECUTED"),
        `alert status ${await alertStatus(db)}`,
      );
      const orders = await db.query<{ status: string; side: string; idempotency_key: string }>(
        "select status, side, idempotency_key from orders where purpose <> 'stop_loss'",
      );
      assert.deepEqual([...orders], [{ status: "FILLED", side: "buy", idempotency_key: KEY }]);
      // The entry's stop rests in the paper broker, as a live one would on the exchange.
      assert.ok(
        await until(async () =>
          await count(
            db,
            "select 1 from orders where purpose = 'stop_loss' and status = 'OPEN'",
          ) ===
            1
        ),
        "the paper position's protective stop",
      );
      assert.equal(
        await count(db, "select 1 from positions where status = 'OPEN' and qty > 0"),
        1,
      );
      assert.equal(
        await count(db, "select 1 from transactions where account = 'paper' and kind = 'trade'"),
        2,
      );
      assert.equal(await count(db, "select 1 from transactions where account <> 'paper'"), 0);
      assert.equal(fake.requests["POST order"], undefined, "paper orders never reach the API");

      // Another tick over the same candles trades nothing more.
      await strategy!.tick();
      assert.equal(await count(db, "select 1 from inbound_alerts"), 1);
      assert.equal(await count(db, "select 1 from orders where purpose <> 'stop_loss'"), 1);
    } finally {
      await service.stop();
      await fake.close();
      await t.close();
    }
  },
});
