/**
 * The ccxt adapter against the fake Binance: market data, trading rules synced as decimal
 * strings, resting orders, cancel, and lookups of orders that do not exist.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { liveExchange } from "../../helpers/execution.ts";
import { syncMarkets } from "../../../execution/markets.ts";
import { RejectedError } from "../../../core/errors.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  name: "the ccxt adapter reads markets, candles and orders from a Binance-compatible server",
  ...serviceTest,
  fn: async (t) => {
    const fake = startFakeExchange();
    const exchange = await liveExchange(fake);
    const tdb = await testDb();
    try {
      await t.step("markets are synced with their rules as decimal strings", async () => {
        assert.equal(await syncMarkets(tdb.db, exchange), 2);
        assert.equal(await syncMarkets(tdb.db, exchange), 2, "a second sync is harmless");
        const [r] = await tdb.db.query<{ market_id: string; trading_rules: unknown }>(
          `select ei.market_id, ei.trading_rules from exchange_instruments ei
             join instruments i on i.id = ei.instrument_id where i.symbol = 'BTC/USDT'`,
        );
        assert.equal(r.market_id, "BTCUSDT");
        assert.deepEqual(r.trading_rules, {
          tick_size: "0.01",
          step_size: "0.00001",
          min_qty: "0.00001",
          max_qty: "9000",
          market_max_qty: "9000",
          min_notional: "5",
          taker_fee: "0.001",
        });
      });

      await t.step("candles come back in order, from `since`, at most `limit`", async () => {
        const since = Date.UTC(2026, 0, 1, 0, 0);
        const candles = await exchange.fetchOHLCV("BTC/USDT", "1m", since, 5);
        assert.equal(candles.length, 5);
        assert.equal(candles[0].ts, since);
        assert.ok(candles.every((c, i) => i === 0 || c.ts - candles[i - 1].ts === 60_000));
        assert.ok(candles.every((c) => c.high >= Math.max(c.open, c.close)));
        const hourly = await exchange.fetchOHLCV("BTC/USDT", "1h", since, 3);
        assert.deepEqual(hourly.map((c) => c.ts - since), [0, 3_600_000, 7_200_000]);
      });

      await t.step("a resting limit order is open, found by client id, and cancelled", async () => {
        const o = await exchange.createOrder({
          symbol: "BTC/USDT",
          side: "buy",
          type: "limit",
          qty: "0.001",
          price: "40000",
          clientOrderId: "rest-1",
        });
        assert.equal(o.status, "open");
        const open = await exchange.fetchOpenOrders("BTC/USDT");
        assert.deepEqual(open.map((x) => x.clientOrderId), ["rest-1"]);
        await exchange.cancelOrder("rest-1", "BTC/USDT");
        assert.equal(
          (await exchange.fetchOrderByClientId("rest-1", "BTC/USDT"))?.status,
          "canceled",
        );
        await assert.rejects(() => exchange.cancelOrder("rest-1", "BTC/USDT"), RejectedError);
      });

      await t.step("an order that does not exist is null, not an error", async () => {
        assert.equal(await exchange.fetchOrderByClientId("never-sent", "BTC/USDT"), null);
      });

      await t.step("balances are decimal strings per asset", async () => {
        const b = await exchange.fetchBalance();
        assert.equal(b.USDT.free, "10000");
      });
    } finally {
      await exchange.close?.();
      await fake.close();
      await tdb.close();
    }
  },
});
