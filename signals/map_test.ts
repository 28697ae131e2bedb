import assert from "node:assert/strict";
import { applyStrategy, canonicalJson } from "./map.ts";
import type { StrategyRow } from "./strategies.ts";
import type { TradingDecision } from "../trading/decision.ts";

const strategy: StrategyRow = {
  name: "trend",
  enabled: true,
  symbols: null,
  risk_pct: "1",
  stop_pct: "2",
  take_profit_pct: "4",
  confidence_min: "0.5",
  max_notional: null,
  qty_policy: "cap",
  trail_pct: null,
  trail_activation_pct: "0",
  tp_ladder: null,
  params: {},
  version: "1",
};
const buy: TradingDecision = {
  symbol: "BTC/USDT",
  action: "buy",
  strategy: "trend",
  idempotencyKey: "k",
  price: "50000",
};

Deno.test("stop and target are derived from the strategy when a price is known", () => {
  const r = applyStrategy(buy, strategy);
  assert.ok(r.ok);
  assert.equal(r.decision.sl, "49000");
  assert.equal(r.decision.tp, "52000");
  const sell = applyStrategy({ ...buy, action: "sell" }, strategy);
  assert.ok(sell.ok);
  assert.equal(sell.decision.sl, "51000");
  assert.equal(sell.decision.tp, "48000");
});

Deno.test("without a price the stop stays empty for execution to derive", () => {
  const r = applyStrategy({ ...buy, price: undefined }, strategy);
  assert.ok(r.ok);
  assert.equal(r.decision.sl, undefined);
  assert.equal(r.decision.tp, undefined);
});

Deno.test("the strategy refuses unknown, disabled, other symbols, low confidence, bad stops", () => {
  const no = (d: TradingDecision, s: StrategyRow | undefined, re: RegExp) => {
    const r = applyStrategy(d, s);
    assert.ok(!r.ok && re.test(r.error), JSON.stringify(r));
  };
  no(buy, undefined, /unknown; add it with: pg-solo-lite strategies add trend/);
  no(buy, { ...strategy, enabled: false }, /disabled/);
  no(buy, { ...strategy, symbols: ["ETH/USDT"] }, /not allowed.*ETH\/USDT/);
  no({ ...buy, confidence: 0.49 }, strategy, /below the floor 0.5/);
  no({ ...buy, sl: "50001" }, strategy, /must be below the price/);
  no({ ...buy, sl: "49000", tp: "48000" }, strategy, /Target 48000 must be above the price 50000/);
  no({ ...buy, tp: "50000" }, strategy, /Target 50000 must be above the price/);
  assert.ok(applyStrategy({ ...buy, tp: "50000.01" }, strategy).ok);
  // A laddered strategy's slices replace the alert's target: it is not looked at.
  const laddered = { ...strategy, tp_ladder: [{ pct: 4, share: 100 }] };
  assert.ok(applyStrategy({ ...buy, tp: "48000" }, laddered).ok);
  // A sell's target is not an entry's: it is left as given.
  assert.ok(applyStrategy({ ...buy, action: "sell", tp: "48000" }, strategy).ok);
  assert.ok(applyStrategy({ ...buy, confidence: 0.5 }, strategy).ok);
});

Deno.test("canonical JSON sorts keys at every level and drops undefined", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 2 }], c: undefined } }),
    '{"a":{"d":[2,{"x":2,"y":1}]},"b":1}',
  );
});

Deno.test("canonical JSON is the sorted-entries form for any nesting of keys and values", () => {
  // The form the payload hashes of stored alerts were made with: it must never change.
  const reference = (value: unknown): string => {
    if (Array.isArray(value)) return `[${value.map(reference).join(",")}]`;
    if (value !== null && typeof value === "object") {
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(",")}}`;
    }
    return JSON.stringify(value);
  };
  const keys = ["a", "B", "b", "10", "2", "é", "Z", "_", "\u{1F600}", "\ud800", "", "aa"];
  const leaves = [1, -0, 0.1, "x", 'q"uote', null, true, undefined, [], {}];
  let seed = 3;
  const next = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const build = (depth: number): unknown => {
    if (depth === 0 || next() < 0.3) return leaves[Math.floor(next() * leaves.length)];
    if (next() < 0.3) return Array.from({ length: Math.floor(next() * 3) }, () => build(depth - 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(next() * 5); i > 0; i--) {
      o[keys[Math.floor(next() * keys.length)]] = build(depth - 1);
    }
    return o;
  };
  for (let i = 0; i < 2_000; i++) {
    const value = build(4);
    assert.equal(canonicalJson(value), reference(value));
  }
});
