/**
 * Live and backtest over one series: the strategy agent, fed minute by minute by the ingestion
 * agent from a fake exchange, emits exactly the decisions the backtest engine computes over the
 * candles left in the table afterwards — also when one symbol's fetch fails, across a restart,
 * and with the service's clock ahead of the exchange. A clock behind it never trades late.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { type Clock, fakeClock } from "../../../core/clock.ts";
import { RejectedError } from "../../../core/errors.ts";
import { logger } from "../../../core/log.ts";
import type { Log } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import type { TradingDecision } from "../../../trading/decision.ts";
import { createBacktest } from "../../../backtest/engine.ts";
import { createIngestionAgent } from "../../../strategy/ingestion.ts";
import { createStrategyAgent } from "../../../strategy/agent.ts";
import { candlesBetween, upsertCandles } from "../../../strategy/candles.ts";
import { streamCandleCsv } from "../../../backtest/csv.ts";
import type { Candle } from "../../../exchange/port.ts";
import { toDecision } from "../../../strategy/decision.ts";
import type { Signal, StrategyParams } from "../../../strategy/rule.ts";
import { createRunner } from "../../../strategy/runner.ts";
import { candleSource, TF_MS } from "../../fakes/candle_source.ts";

const params: StrategyParams = {
  name: "parity",
  emaFast: 3,
  emaSlow: 8,
  rsiPeriod: 5,
  rsiOverbought: 99,
  rsiOversold: 1,
  stopPct: 2,
  takeProfitPct: 4,
  confidenceMin: 0,
  riskPct: 1,
};
const base = logger("test");
/** Warnings the agents logged, by message template. */
const warnings: string[] = [];
const log: Log = new Proxy(base, {
  get(target, key) {
    if (key === "warn") {
      return (message: string, props?: Record<string, unknown>) => {
        warnings.push(message);
        target.warn(message, props);
      };
    }
    const value = Reflect.get(target, key);
    return typeof value === "function" ? value.bind(target) : value;
  },
});
const series = (symbol: string) => ({ exchangeId: "binance", symbol, timeframe: "1m" });

/** A clock `offsetMs` away from `base` (the exchange's own time when the service's drifts). */
const offsetClock = (base: Clock, offsetMs: number): Clock => ({
  now: () => new Date(base.now().getTime() + offsetMs),
  sleep: (ms, signal) => base.sleep(ms, signal),
});

/**
 * The service's minute: one ingestion run, then, as the component does, one strategy run when
 * any symbol's data came in. `exchangeOffsetMs` is how far the exchange's clock is from ours.
 */
function world(
  db: Db,
  symbols: string[],
  startMs: number,
  exchangeOffsetMs = 0,
  { p = params, window = 400 } = {},
) {
  const clock = fakeClock(new Date(startMs));
  const source = candleSource(offsetClock(clock, exchangeOffsetMs));
  const common = { db, clock, log, timeframe: "1m", symbols };
  const ingestion = createIngestionAgent({ ...common, exchange: source, window });
  const got: TradingDecision[] = [];
  const agent = () =>
    createStrategyAgent({
      ...common,
      exchangeId: "binance",
      params: p,
      sink: (d) => Promise.resolve(void got.push(d)),
    });
  let strategy = agent();
  return {
    clock,
    source,
    got,
    /** A new process over the same database (in-memory state gone). */
    async restart() {
      strategy = agent();
      await strategy.start();
    },
    async begin() {
      await ingestion.runOnce();
      await strategy.start();
    },
    async minute() {
      clock.advance(TF_MS);
      const results = await ingestion.runOnce();
      if (results.some((r) => r.ok)) await strategy.runOnce();
    },
  };
}

/**
 * The backtest over what the table holds, as `backtest --symbol` reads it: the decisions it
 * signals on candles at or after `fromMs`.
 */
async function backtestDecisions(
  db: Db,
  symbol: string,
  fromMs: number,
  toMs: number,
  p = params,
) {
  const runner = createRunner(p);
  const signals: Signal[] = [];
  const bt = createBacktest({
    params: p,
    initialQuote: 10_000,
    feeRate: 0.001,
    runner: {
      onCandle(c) {
        const o = runner.onCandle(c);
        if (o.kind === "signal") signals.push(o.signal);
        return o;
      },
    },
  });
  for (const c of await candlesBetween(db, series(symbol), 0, toMs, 100_000)) bt.feed(c);
  return signals.filter((s) => s.candleTs >= fromMs).map((s) => toDecision(p.name, symbol, s));
}

const forming = (clock: Clock) => Math.floor(clock.now().getTime() / TF_MS) * TF_MS;

Deno.test("live strategy and backtest over one series", async (ctx) => {
  const t = await testDb();
  const { db } = t;
  try {
    await ctx.step("the same decisions, across a restart", async () => {
      const w = world(db, ["RUN/USDT"], Date.UTC(2026, 0, 1, 12, 0, 30));
      await w.begin();
      const firstLive = forming(w.clock);
      for (let i = 0; i < 120; i++) await w.minute();
      await w.restart();
      for (let i = 0; i < 120; i++) await w.minute();
      const want = await backtestDecisions(db, "RUN/USDT", firstLive, forming(w.clock));
      assert.ok(want.length >= 4, `the wave should cross several times, got ${want.length}`);
      assert.deepEqual(w.got, want);
    });

    await ctx.step("long periods warm up in full after a restart", async () => {
      // A random walk (the sample file), so where a run starts shows in its indicators: after
      // the 1,000 newest candles, EMA 400's first close still weighs 0.7 % in it and RSI 150's
      // seed average 0.4 %. They settle after 2,807 candles (settleCandles).
      const walk: Candle[] = [];
      await streamCandleCsv("samples/btcusdt_1m_sample.csv", (c) => void walk.push(c));
      const slow = { ...params, emaFast: 50, emaSlow: 400, rsiPeriod: 150 };
      const s = series("WALK/USDT");
      const history = 3_000;
      await upsertCandles(db, s, walk.slice(0, history));
      const clock = fakeClock(new Date(walk[history].ts + 1));
      const got: TradingDecision[] = [];
      const agent = () =>
        createStrategyAgent({
          db,
          clock,
          log,
          timeframe: "1m",
          symbols: ["WALK/USDT"],
          exchangeId: "binance",
          params: slow,
          sink: (d) => Promise.resolve(void got.push(d)),
        });
      let strategy = agent();
      await strategy.start();
      const last = history + 1_100;
      for (let i = history; i < last; i++) {
        if (i === history + 400) {
          strategy = agent();
          await strategy.start();
        }
        // The candle and its successor (the one forming) are stored; then the minute's run.
        await upsertCandles(db, s, [walk[i], walk[i + 1]]);
        clock.set(new Date(walk[i + 1].ts + 1));
        await strategy.runOnce();
      }
      const want = await backtestDecisions(db, "WALK/USDT", walk[history].ts, walk[last].ts, slow);
      assert.ok(want.length >= 4, `the EMAs should cross, got ${want.length}`);
      assert.deepEqual(got, want);
    });

    await ctx.step("a symbol whose fetch failed is not decided on its forming candle", async () => {
      const w = world(db, ["FAIL/USDT", "OK/USDT"], Date.UTC(2026, 0, 1, 12, 0, 30));
      await w.begin();
      const firstLive = forming(w.clock);
      for (let i = 0; i < 240; i++) {
        // Every third minute FAIL/USDT's fetch (the first call of the run) is refused, while
        // OK/USDT's succeeds: its forming candle, stored a minute ago, is not completed.
        if (i % 3 === 0) w.source.failNext(new RejectedError("klines refused"));
        await w.minute();
      }
      // A minute without failures completes the last forming candle.
      await w.minute();
      const want = await backtestDecisions(db, "FAIL/USDT", firstLive, forming(w.clock));
      assert.ok(want.length >= 4, `the wave should cross several times, got ${want.length}`);
      assert.deepEqual(w.got.filter((d) => d.symbol === "FAIL/USDT"), want);
    });

    await ctx.step("a clock ahead of the exchange does not close its candles early", async () => {
      // Ours reads 12:01:10 while the exchange's 12:00 candle has 10 s to go.
      const w = world(db, ["AHEAD/USDT"], Date.UTC(2026, 0, 1, 12, 0, 10), -20_000);
      await w.begin();
      const firstLive = forming(w.clock);
      for (let i = 0; i < 240; i++) await w.minute();
      // Up to the candle the exchange still forms: it is decided a minute later, once final.
      const want = await backtestDecisions(db, "AHEAD/USDT", firstLive, forming(w.clock) - TF_MS);
      assert.ok(want.length >= 4, `the wave should cross several times, got ${want.length}`);
      assert.deepEqual(w.got, want);
    });

    await ctx.step("a clock a little behind the exchange decides every candle", async () => {
      // Ours reads 12:00:30 while the exchange is at 12:01:20.
      warnings.length = 0;
      const w = world(db, ["LAG/USDT"], Date.UTC(2026, 0, 1, 12, 0, 30), 50_000);
      await w.begin();
      const firstLive = forming(w.clock);
      for (let i = 0; i < 240; i++) await w.minute();
      const want = await backtestDecisions(db, "LAG/USDT", firstLive, forming(w.clock));
      assert.ok(want.length >= 4, `the wave should cross several times, got ${want.length}`);
      assert.deepEqual(w.got, want);
      assert.deepEqual(warnings.filter((m) => m.includes("the clock is behind")), []);
    });

    await ctx.step("a clock far behind the exchange never trades a stale candle", async () => {
      // Ours reads 12:01:30 while the exchange is at 12:05:00.
      const w = world(db, ["BEHIND/USDT"], Date.UTC(2026, 0, 1, 12, 0, 30), 210_000);
      await w.begin();
      const firstLive = forming(w.clock);
      for (let i = 0; i < 240; i++) await w.minute();
      const signalled = await backtestDecisions(db, "BEHIND/USDT", firstLive, forming(w.clock));
      assert.ok(signalled.length >= 4, `the wave should cross several times`);
      // Every candle our clock calls fresh closed more than 2 periods ago on the exchange.
      assert.deepEqual(w.got, []);
      const behind = warnings.filter((m) => m.includes("the clock is behind"));
      assert.equal(behind.length, 1, "one warning, not one a minute");
    });
  } finally {
    await t.close();
  }
});
