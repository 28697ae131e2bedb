import assert from "node:assert/strict";
import { decisionKey, priceString, recentKeys, toDecision } from "./decision.ts";

Deno.test("the idempotency key is derived from strategy, symbol, candle time and action", () => {
  const ts = Date.UTC(2026, 0, 2, 3, 4);
  assert.equal(
    decisionKey("ema_rsi", "BTC/USDT", ts, "buy"),
    "strategy:ema_rsi:BTC/USDT:2026-01-02T03:04:00.000Z:buy",
  );
  assert.notEqual(
    decisionKey("ema_rsi", "BTC/USDT", ts, "buy"),
    decisionKey("ema_rsi", "BTC/USDT", ts, "sell"),
  );
  assert.notEqual(decisionKey("a", "BTC/USDT", ts, "buy"), decisionKey("b", "BTC/USDT", ts, "buy"));
  assert.notEqual(decisionKey("a", "BTC/USDT", ts, "buy"), decisionKey("a", "ETH/USDT", ts, "buy"));
  assert.notEqual(
    decisionKey("a", "BTC/USDT", ts, "buy"),
    decisionKey("a", "BTC/USDT", ts + 60_000, "buy"),
  );
});

Deno.test("the same signal twice gives the same decision and the repeat is suppressed", () => {
  const signal = {
    action: "buy" as const,
    candleTs: Date.UTC(2026, 0, 1),
    entry: 50_000,
    stop: 49_000,
    target: 52_000,
    confidence: 0.75,
    rsi: 40,
  };
  const a = toDecision("ema_rsi", "BTC/USDT", signal);
  const b = toDecision("ema_rsi", "BTC/USDT", { ...signal });
  assert.deepEqual(a, b);
  assert.deepEqual(a, {
    symbol: "BTC/USDT",
    action: "buy",
    sl: "49000",
    tp: "52000",
    confidence: 0.75,
    strategy: "ema_rsi",
    idempotencyKey: "strategy:ema_rsi:BTC/USDT:2026-01-01T00:00:00.000Z:buy",
    ts: "2026-01-01T00:00:00.000Z",
  });
  const keys = recentKeys(10);
  assert.equal(keys.offer(a.idempotencyKey), true);
  assert.equal(keys.offer(b.idempotencyKey), false);
});

Deno.test("remembered keys are bounded, oldest evicted first", () => {
  const keys = recentKeys(2);
  keys.offer("a");
  keys.offer("b");
  keys.offer("c");
  assert.equal(keys.has("a"), false);
  assert.equal(keys.offer("b"), false);
  assert.equal(keys.offer("c"), false);
});

Deno.test("prices print as plain decimals without float noise or exponents", () => {
  assert.equal(priceString(49_000), "49000");
  assert.equal(priceString(10 * 0.98), "9.8");
  assert.equal(priceString(0.000012345678), "0.000012345678");
  assert.equal(priceString(1.1 * 3), "3.3");
  assert.throws(() => priceString(Number.NaN));
});
