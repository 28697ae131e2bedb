/**
 * Ingestion and the strategy through the real ccxt client against a local Binance-compatible
 * klines server: candles land in `candles` exactly as served, HTTP failures are retried, and
 * the strategy's decisions reach the sink.
 */
import assert from "node:assert/strict";
import ccxt from "ccxt";
import { testDb } from "../../helpers/db.ts";
import { fakeClock } from "../../../core/clock.ts";
import type { TradingDecision } from "../../../trading/decision.ts";
import { RateLimitedError, RejectedError, TemporaryError } from "../../../core/errors.ts";
import { logger } from "../../../core/log.ts";
import type { Exchange } from "../../../exchange/port.ts";
import { createIngestionAgent } from "../../../strategy/ingestion.ts";
import { createStrategyAgent } from "../../../strategy/agent.ts";
import { candleAt, TF_MS } from "../../fakes/candle_source.ts";
import { startKlinesServer } from "../../fakes/klines_server.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

/**
 * The market-data slice of an Exchange over ccxt, as small as the test needs: the service's
 * own adapter lives in exchange/ and maps every ccxt error the same way.
 */
function ccxtCandles(apiUrl: string): Pick<Exchange, "id" | "fetchOHLCV"> {
  const ex = new ccxt.binance({
    enableRateLimit: false,
    options: { fetchMarkets: { types: ["spot"] }, fetchCurrencies: false, fetchMargins: false },
  });
  const api = ex.urls.api as Record<string, string>;
  for (const key of Object.keys(api)) api[key] = apiUrl + new URL(api[key]).pathname;
  return {
    id: "binance",
    async fetchOHLCV(symbol, timeframe, since, limit) {
      try {
        const rows = await ex.fetchOHLCV(symbol, timeframe, since, limit);
        return rows.map(([ts, open, high, low, close, volume]) => ({
          ts: ts!,
          open: open!,
          high: high!,
          low: low!,
          close: close!,
          volume: volume ?? 0,
        }));
      } catch (error) {
        const message = (error as Error).message;
        if (error instanceof ccxt.DDoSProtection) {
          throw new RateLimitedError(message, 1_000, { cause: error });
        }
        if (error instanceof ccxt.NetworkError) throw new TemporaryError(message, { cause: error });
        if (error instanceof ccxt.BadRequest) throw new RejectedError(message, { cause: error });
        throw error;
      }
    },
  };
}

Deno.test({
  name: "ingestion through ccxt against a local klines server",
  ...serviceTest,
  async fn(ctx) {
    const t = await testDb();
    const clock = fakeClock(new Date(Date.UTC(2026, 0, 1, 12, 0, 30)));
    const server = startKlinesServer({ now: () => clock.now().getTime(), candleAt });
    const sleeps: number[] = [];
    const sleep = clock.sleep;
    clock.sleep = (ms, signal) => {
      sleeps.push(ms);
      return sleep(ms, signal);
    };
    try {
      const { db } = t;
      const exchange = ccxtCandles(server.url);
      const log = logger("test");
      const ingestion = createIngestionAgent({
        db,
        exchange,
        clock,
        log,
        symbols: ["BTC/USDT"],
        timeframe: "1m",
        window: 300,
        random: () => 0.5,
      });

      await ctx.step("candles are stored exactly as the exchange served them", async () => {
        const [r] = await ingestion.runOnce();
        assert.equal(r.ok, true, r.error);
        assert.equal(r.stored, 300);
        const q = server.requests[0];
        assert.equal(q.get("symbol"), "BTCUSDT");
        assert.equal(q.get("interval"), "1m");
        assert.equal(q.get("limit"), "300");
        const rows = await db.query<{ ts: number; close: string; high: string }>(
          `select (extract(epoch from ts) * 1000)::int8 as ts, close::text, high::text
           from candles where symbol = 'BTC/USDT' order by ts`,
        );
        assert.equal(rows.length, 300);
        for (const row of [rows[0], rows[150], rows[299]]) {
          assert.equal(row.close, String(candleAt(row.ts).close));
          assert.equal(row.high, String(candleAt(row.ts).high));
        }
      });

      await ctx.step(
        "HTTP 503 and 429 are retried with backoff, then the gap is filled",
        async () => {
          clock.advance(5 * TF_MS);
          sleeps.length = 0;
          const before = server.requests.length;
          server.failNext(503, 429);
          const [r] = await ingestion.runOnce();
          assert.equal(r.ok, true, r.error);
          assert.equal(server.requests.length - before, 3);
          // 503 → 750 ms (half the 1 s ceiling plus half of it as jitter); 429 → 1.5 s, the
          // second backoff step, which is longer than the 1 s the adapter was asked to wait.
          assert.deepEqual(sleeps, [750, 1_500]);
          assert.equal(r.stored, 6);
        },
      );

      await ctx.step("an unknown symbol is rejected without retries", async () => {
        const bad = createIngestionAgent({
          db,
          exchange,
          clock,
          log,
          symbols: ["NOPE/USDT"],
          timeframe: "1m",
        });
        const before = server.requests.length;
        const [r] = await bad.runOnce();
        assert.equal(r.ok, false);
        assert.equal(server.requests.length, before);
      });

      await ctx.step("the strategy turns served candles into decisions for the sink", async () => {
        const got: TradingDecision[] = [];
        const strategy = createStrategyAgent({
          db,
          clock,
          log,
          exchangeId: "binance",
          timeframe: "1m",
          symbols: ["BTC/USDT"],
          params: {
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
          },
          sink: (d) => Promise.resolve(void got.push(d)),
        });
        await strategy.start();
        for (let i = 0; i < 120; i++) {
          clock.advance(TF_MS);
          const [r] = await ingestion.runOnce();
          assert.equal(r.ok, true, r.error);
          await strategy.runOnce();
        }
        assert.ok(got.length >= 2, `expected decisions, got ${got.length}`);
        assert.ok(got.every((d) => d.idempotencyKey.startsWith("strategy:wave:BTC/USDT:")));
        assert.equal(new Set(got.map((d) => d.idempotencyKey)).size, got.length);
      });
    } finally {
      await server.close();
      await t.close();
    }
  },
});
