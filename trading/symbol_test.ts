import assert from "node:assert/strict";
import { isUnifiedSymbol, parseAlertSymbol, splitMarketId } from "./symbol.ts";

Deno.test("TradingView symbols of the configured exchange become market ids", () => {
  assert.deepEqual(parseAlertSymbol("BINANCE:BTCUSDT", "binance"), {
    ok: true,
    kind: "market",
    marketId: "BTCUSDT",
  });
  assert.deepEqual(parseAlertSymbol("binance_dl:ethusdt", "binance"), {
    ok: true,
    kind: "market",
    marketId: "ETHUSDT",
  });
  assert.deepEqual(parseAlertSymbol(" BTC/USDT ", "binance"), {
    ok: true,
    kind: "unified",
    symbol: "BTC/USDT",
  });
});

Deno.test("a symbol of another exchange or of no known shape is refused with the reason", () => {
  const other = parseAlertSymbol("COINBASE:BTCUSD", "binance");
  assert.ok(!other.ok && /for exchange COINBASE/.test(other.error));
  const junk = parseAlertSymbol("BTC-USDT.P", "binance");
  assert.ok(!junk.ok && /is not a symbol/.test(junk.error));
});

Deno.test("market ids split on the longest known quote asset", () => {
  assert.equal(splitMarketId("BTCUSDT"), "BTC/USDT");
  assert.equal(splitMarketId("ETHBTC"), "ETH/BTC");
  assert.equal(splitMarketId("BTCFDUSD"), "BTC/FDUSD");
  assert.equal(splitMarketId("SOLTRY"), "SOL/TRY");
  assert.equal(splitMarketId("USDT"), undefined);
  assert.equal(splitMarketId("FOOBAR"), undefined);
});

Deno.test("a unified symbol is upper case BASE/QUOTE of at most 20 characters each", () => {
  assert.ok(isUnifiedSymbol("BTC/USDT"));
  assert.ok(isUnifiedSymbol("1000SATS/USDT"));
  for (const bad of ["btc/usdt", "BTCUSDT", "BTC/USDT:USDT", "/USDT", "A".repeat(21) + "/USDT"]) {
    assert.equal(isUnifiedSymbol(bad), false, bad);
  }
});
