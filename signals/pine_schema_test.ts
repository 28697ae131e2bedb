import assert from "node:assert/strict";
import { parsePineAlert } from "./pine_schema.ts";
import { alertToDecision } from "./map.ts";

Deno.test("a Pine alert is parsed with empty fields counted as absent", () => {
  const r = parsePineAlert({
    symbol: "BINANCE:BTCUSDT",
    side: "BUY",
    strategy: "trend",
    qty: 0.5,
    price: "",
    confidence: "0.8",
    ts: "2026-01-01T00:00:00+01:00",
    extra: "ignored",
  });
  assert.ok(r.ok);
  assert.equal(r.alert.side, "buy");
  assert.equal(r.alert.qty, "0.5");
  assert.equal(r.alert.price, undefined);
  assert.equal(r.alert.confidence, 0.8);
});

Deno.test("every problem of an alert is reported in one message", () => {
  const r = parsePineAlert({ side: "hold", qty: "-2" });
  assert.ok(!r.ok);
  assert.match(r.error, /symbol: is required/);
  assert.match(r.error, /side: expected buy or sell/);
  assert.match(r.error, /strategy: is required/);
  assert.match(r.error, /qty: expected a positive decimal number such as 0.01 \(got "-2"\)/);
});

Deno.test("an alert's trail_pct is a percentage above 0 and below 100, carried to the decision", () => {
  const base = { symbol: "BTC/USDT", side: "buy", strategy: "trend" };
  const r = parsePineAlert({ ...base, trail_pct: "2.5" });
  assert.ok(r.ok);
  assert.equal(alertToDecision(r.alert, "BTC/USDT").trailPct, "2.5");
  const none = parsePineAlert(base);
  assert.ok(none.ok);
  assert.equal("trailPct" in alertToDecision(none.alert, "BTC/USDT"), false);
  for (const bad of [0, "-1", 100, "150", "two"]) {
    const refused = parsePineAlert({ ...base, trail_pct: bad });
    assert.ok(!refused.ok, `trail_pct ${bad} is refused`);
    assert.match(refused.error, /trail_pct: expected a (positive decimal|percentage above 0)/);
  }
});
