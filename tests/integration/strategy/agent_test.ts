/**
 * The strategy agent over stored candles: state rebuilt at start, one update per closed
 * candle, decisions equal to a from-scratch run, no stale or repeated decisions, and the
 * default sink storing them for execution exactly once.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { fakeClock } from "../../../core/clock.ts";
import type { TradingDecision } from "../../../trading/decision.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import { createIngestionAgent } from "../../../strategy/ingestion.ts";
import { createStrategyAgent, type DecisionSink } from "../../../strategy/agent.ts";
import { decisionKey } from "../../../strategy/decision.ts";
import type { StrategyParams } from "../../../strategy/rule.ts";
import { createRunner } from "../../../strategy/runner.ts";
import { settleCandles } from "../../../strategy/indicators.ts";
import { storeDecisionSink } from "../../../strategy/store_sink.ts";
import { upsertCandles } from "../../../strategy/candles.ts";
import { candleAt, candleSource, TF_MS } from "../../fakes/candle_source.ts";

const params: StrategyParams = {
  name: "wave",
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
const T0 = Date.UTC(2026, 0, 1, 12, 0, 30);
const log = logger("test");

function world(db: Db, symbol: string, sink: DecisionSink, start = T0) {
  const clock = fakeClock(new Date(start));
  const source = candleSource(clock);
  const common = { db, clock, log, timeframe: "1m", symbols: [symbol] };
  const ingestion = createIngestionAgent({ ...common, exchange: source, window: 300 });
  const strategy = createStrategyAgent({ ...common, exchangeId: "binance", params, sink });
  /** One minute of the service: ingest, then decide. */
  const minute = async () => {
    clock.advance(TF_MS);
    await ingestion.runOnce();
    return await strategy.runOnce();
  };
  return { clock, ingestion, strategy, minute };
}

/** The first candle stored by the first ingestion run (window 300 up to the forming one). */
const FIRST_TS = Math.floor(T0 / TF_MS) * TF_MS - 299 * TF_MS;

/**
 * What a fresh runner decides over the closed candles [firstTs, toTs): keys of the signals at
 * or after `fromTs`.
 */
function expectedKeys(
  symbol: string,
  fromTs: number,
  toTs: number,
  firstTs = FIRST_TS,
): string[] {
  const runner = createRunner(params);
  const keys: string[] = [];
  for (let ts = firstTs; ts < toTs; ts += TF_MS) {
    const o = runner.onCandle(candleAt(ts));
    if (o.kind === "signal" && ts >= fromTs) {
      keys.push(decisionKey(params.name, symbol, ts, o.signal.action));
    }
  }
  return keys;
}

Deno.test("strategy agent", async (ctx) => {
  const t = await testDb();
  const { db } = t;
  try {
    await ctx.step("state is rebuilt at start and only new closed candles decide", async () => {
      const got: TradingDecision[] = [];
      const w = world(db, "WAVE/USDT", (d) => Promise.resolve(void got.push(d)));
      await w.ingestion.runOnce();
      await w.strategy.start();
      const firstLive = Math.floor(w.clock.now().getTime() / TF_MS) * TF_MS;
      const returned: TradingDecision[] = [];
      for (let i = 0; i < 240; i++) returned.push(...await w.minute());
      const forming = Math.floor(w.clock.now().getTime() / TF_MS) * TF_MS;
      const want = expectedKeys("WAVE/USDT", firstLive, forming);
      assert.ok(want.length >= 4, `the wave should cross several times, got ${want.length}`);
      assert.deepEqual(got.map((d) => d.idempotencyKey), want);
      assert.deepEqual(returned, got);
      // Nothing on the forming candle: every decision is for a candle closed by now.
      assert.ok(got.every((d) => Date.parse(d.ts!) < forming));
      assert.ok(got.every((d) => Number(d.sl) > 0 && Number(d.tp) > 0));
      for (const d of got) {
        if (d.action === "buy") assert.ok(Number(d.sl) < Number(d.tp));
        else assert.ok(Number(d.sl) > Number(d.tp));
      }
    });

    await ctx.step("a backfill of old candles warms up without trading on them", async () => {
      const got: TradingDecision[] = [];
      const w = world(db, "BACKFILL/USDT", (d) => Promise.resolve(void got.push(d)));
      await w.strategy.start();
      await w.ingestion.runOnce();
      await w.strategy.runOnce();
      assert.deepEqual(got, []);
    });

    await ctx.step("a re-run over the same candles never stores a decision twice", async () => {
      const stored: number[] = [];
      // The sink goes through the intake, which trades only strategies it knows.
      await db.query("insert into strategies (name) values ('wave') on conflict do nothing");
      const sink = storeDecisionSink(db, { log, onStored: (id) => stored.push(id) });
      const a = world(db, "RERUN/USDT", sink);
      await a.ingestion.runOnce();
      await a.strategy.start();
      for (let i = 0; i < 150; i++) await a.minute();
      const count = async () =>
        (await db.query<{ n: number }>(
          `select count(*)::int8 as n from inbound_alerts
           where source = 'strategy' and status = 'RECEIVED'
             and idempotency_key like 'strategy:wave:RERUN/USDT:%'`,
        ))[0].n;
      const n = await count();
      assert.ok(n >= 2, `expected decisions, got ${n}`);
      assert.equal(stored.length, n);
      const [row] = await db.query<{ status: string; decision: TradingDecision }>(
        "select status, decision from inbound_alerts where id = $1",
        [stored[0]],
      );
      assert.equal(row.status, "RECEIVED");
      assert.equal(row.decision.strategy, "wave");
      assert.match(row.decision.idempotencyKey, /^strategy:wave:RERUN\/USDT:/);

      // A restarted process that rebuilds from an earlier point replays the same minutes.
      const b = world(db, "RERUN/USDT", sink, T0);
      for (let i = 0; i < 60; i++) b.clock.advance(TF_MS);
      await b.strategy.start();
      const replayed: TradingDecision[] = [];
      for (let i = 0; i < 90; i++) {
        b.clock.advance(TF_MS);
        replayed.push(...await b.strategy.runOnce());
      }
      assert.ok(replayed.length > 0, "the replay should produce decisions again");
      assert.equal(await count(), n);
      assert.equal(stored.length, n);
    });

    await ctx.step("a decision the sink could not take is handed over again", async () => {
      const got: TradingDecision[] = [];
      let failures = 1;
      const w = world(db, "RETRY/USDT", (d) => {
        if (failures > 0) {
          failures--;
          return Promise.reject(new Error("sink down"));
        }
        got.push(d);
        return Promise.resolve();
      });
      await w.ingestion.runOnce();
      await w.strategy.start();
      for (let i = 0; i < 240 && got.length < 2; i++) await w.minute();
      assert.equal(failures, 0);
      const forming = Math.floor(w.clock.now().getTime() / TF_MS) * TF_MS;
      const want = expectedKeys("RETRY/USDT", Math.floor(T0 / TF_MS) * TF_MS, forming);
      // The key that failed is the first one delivered: nothing was lost or duplicated.
      assert.deepEqual(got.map((d) => d.idempotencyKey), want.slice(0, got.length));
    });

    await ctx.step("candles inserted out of band are picked up once, in order", async () => {
      const got: TradingDecision[] = [];
      const clock = fakeClock(new Date(T0));
      const strategy = createStrategyAgent({
        db,
        clock,
        log,
        timeframe: "1m",
        symbols: ["BAND/USDT"],
        exchangeId: "binance",
        params,
        sink: (d) => Promise.resolve(void got.push(d)),
      });
      await strategy.start();
      const series = { exchangeId: "binance", symbol: "BAND/USDT", timeframe: "1m" };
      const base = T0 - (T0 % TF_MS);
      for (let i = 0; i < 200; i++) {
        await upsertCandles(db, series, [candleAt(base + i * TF_MS)]);
        clock.set(new Date(base + (i + 1) * TF_MS + 1));
        await strategy.runOnce();
        await strategy.runOnce();
      }
      // The newest stored row may still be forming: candle 199 waits for a later one. Nothing
      // is traded before the indicators have settled (the from-scratch run signals earlier).
      const settledTs = base + (settleCandles(params) - 1) * TF_MS;
      assert.ok(expectedKeys("BAND/USDT", base, settledTs, base).length > 0);
      const want = expectedKeys("BAND/USDT", settledTs, base + 199 * TF_MS, base);
      assert.ok(want.length > 0);
      assert.deepEqual(got.map((d) => d.idempotencyKey), want);
    });
  } finally {
    await t.close();
  }
});
