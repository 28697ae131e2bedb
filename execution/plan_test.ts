import assert from "node:assert/strict";
import { clientOrderIdFor, parseDecision, type PlanInput, planOrder, staleEntry } from "./plan.ts";

const base: PlanInput = {
  decision: { symbol: "BTC/USDT", action: "buy", strategy: "s", idempotencyKey: "k" },
  rules: { tick_size: "0.01", step_size: "0.00001", min_qty: "0.00001", min_notional: "5" },
  quote: "USDT",
  refPrice: "50000",
  equityQuote: 10_000,
  freeQuote: 10_000,
  strategy: { enabled: true, riskPct: 1, stopPct: 2, confidenceMin: 0.5 },
};
const plan = (over: Partial<PlanInput> & { d?: Partial<PlanInput["decision"]> } = {}) =>
  planOrder({ ...base, ...over, decision: { ...base.decision, ...over.d } });

Deno.test("an entry without a stop is sized from the strategy's stop distance", () => {
  const r = plan();
  assert.ok(r.ok);
  // 1 % of 10,000 = 100 USDT at risk over a 1,000 USDT stop distance → 0.1 BTC.
  assert.deepEqual([r.plan.qty, r.plan.stopPrice, r.plan.type], ["0.1", "49000", "market"]);
});

Deno.test("a given quantity is truncated to the step and a limit price rounded to the tick", () => {
  const r = plan({ d: { qty: "0.0123456", price: "50000.126", sl: "49000" } });
  assert.ok(r.ok);
  assert.deepEqual([r.plan.qty, r.plan.price, r.plan.type], ["0.01234", "50000.13", "limit"]);
});

Deno.test("the stop of a long rounds up to the tick so it is never looser", () => {
  const r = plan({ d: { sl: "48999.991" } });
  assert.ok(r.ok);
  assert.equal(r.plan.stopPrice, "49000");
});

Deno.test("an entry whose stop exit would be under the minimum notional is refused", () => {
  const r = plan({ d: { qty: "0.0001", sl: "49000" } });
  assert.equal(r.ok, false);
  assert.match(
    !r.ok ? r.reason : "",
    /stop exit of 0\.00009 at 49000 would be 4\.41 USDT, below the minimum 5/,
  );
});

Deno.test("refusals: low confidence, disabled strategy, stop above entry, too little cash", () => {
  const reasons = [
    plan({ d: { confidence: 0.2 } }),
    plan({ strategy: { ...base.strategy, enabled: false } }),
    plan({ d: { sl: "51000" } }),
    plan({ d: { qty: "1" }, strategy: { ...base.strategy, qtyPolicy: "trust" } }),
  ].map((r) => (r.ok ? "ok" : r.reason));
  assert.match(reasons[0], /confidence 0\.2 is below the strategy's minimum 0\.5/);
  assert.match(reasons[1], /disabled/);
  assert.match(reasons[2], /stop 51000 is not below the entry 50000/);
  assert.match(reasons[3], /cost 50000\.00 USDT is more than the free 10000\.00 USDT/);
});

Deno.test("a disabled strategy's exit is still planned: only its entries stop", () => {
  const sell = plan({
    d: { action: "sell" },
    positionQty: "0.03",
    strategy: { ...base.strategy, enabled: false },
  });
  assert.ok(sell.ok);
  assert.equal(sell.plan.qty, "0.03");
});

Deno.test("a sell closes the position by default and never sells more than is held", () => {
  const all = plan({ d: { action: "sell" }, positionQty: "0.03" });
  assert.ok(all.ok);
  assert.deepEqual([all.plan.qty, all.plan.purpose, all.plan.stopPrice], [
    "0.03",
    "exit",
    undefined,
  ]);
  const capped = plan({ d: { action: "sell", qty: "5" }, positionQty: "0.03" });
  assert.ok(capped.ok && capped.plan.qty === "0.03");
  assert.equal(plan({ d: { action: "sell" } }).ok, false);
});

Deno.test("a market sell of part leaving a rest too small for its stop sells all that is free", () => {
  const sell = { action: "sell" as const, qty: "0.0099" };
  // The 0.0001 left is 4.88 at the stop's limit 48755 (minimum 5).
  const at = { positionQty: "0.01", positionStop: "49000", stopLimitOffsetPct: 0.5 };
  const all = plan({ d: sell, ...at });
  assert.ok(all.ok && all.plan.qty === "0.01");
  assert.match(all.plan.sizingNote ?? "", /the 0\.0001 left would be too small/);
  // Enough left, a limit sell, or a ladder's slice (its entry's plan checked its rest): as asked.
  const kept = [
    plan({ d: { ...sell, qty: "0.0098" }, ...at }),
    plan({ d: { ...sell, price: "60000" }, ...at }),
    plan({ d: sell, ...at, ladderSlice: true }),
  ].map((r) => r.ok ? r.plan.qty : r.reason);
  assert.deepEqual(kept, ["0.0098", "0.0099", "0.0099"]);
});

Deno.test("a notional cap of the strategy caps a given quantity", () => {
  const r = plan({ d: { qty: "0.1" }, strategy: { ...base.strategy, maxNotionalQuote: 1000 } });
  assert.ok(r.ok && r.plan.qty === "0.02");
});

Deno.test("client order ids are deterministic, short and in Binance's alphabet", () => {
  const a = clientOrderIdFor("tv:BTC/USDT:2026-01-01T00:00", 1);
  assert.equal(a, clientOrderIdFor("tv:BTC/USDT:2026-01-01T00:00", 1));
  assert.notEqual(a, clientOrderIdFor("tv:BTC/USDT:2026-01-01T00:00", 2));
  assert.match(a, /^[a-zA-Z0-9-_]{1,36}$/);
});

Deno.test("a malformed decision is refused with every problem named", () => {
  const r = parseDecision({ symbol: "btc", action: "hold", strategy: "s", idempotencyKey: "k" });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : "", /symbol expected a symbol like BTC\/USDT; action/);
});

Deno.test("a sell sells only what active sell orders are not already selling", () => {
  const sell = { action: "sell" as const };
  const r = plan({ d: sell, positionQty: "0.01", sellingQty: "0.004" });
  assert.ok(r.ok);
  assert.equal(r.plan.qty, "0.006");
  const none = plan({ d: { ...sell, qty: "0.01" }, positionQty: "0.01", sellingQty: "0.01" });
  assert.match(!none.ok ? none.reason : "", /0\.01 held of BTC\/USDT is already being sold/);
});

Deno.test("the stop exit is checked on what is left after a fee taken in the base asset", () => {
  // 0.00011 × 49000 = 5.39 passes, but 0.00011 × (1 − 0.001) floors to 0.0001: 4.9 < 5.
  const r = plan({ d: { qty: "0.00011", sl: "49000" } });
  assert.match(!r.ok ? r.reason : "", /stop exit of 0\.0001 at 49000 would be 4\.9 USDT/);
  const fee0 = plan({
    d: { qty: "0.00011", sl: "49000" },
    rules: { ...base.rules, taker_fee: "0" },
  });
  assert.ok(fee0.ok, "with no fee the whole quantity is sold at the stop");
});

Deno.test("an entry older than SIGNAL_MAX_AGE_S is refused; exits and fresh ones are not", () => {
  const now = new Date("2026-01-01T01:00:00Z");
  const receivedAt = new Date("2026-01-01T00:59:59Z");
  const buy = { symbol: "BTC/USDT", action: "buy" as const, strategy: "s", idempotencyKey: "k" };
  const old = { ...buy, ts: "2026-01-01T00:50:00Z" };
  const stale = staleEntry({ source: "pine", receivedAt, decision: old }, now, 300);
  assert.match(stale ?? "", /is 600 s old, over SIGNAL_MAX_AGE_S=300/);
  assert.equal(staleEntry({ source: "pine", receivedAt, decision: old }, now, 600), undefined);
  assert.equal(staleEntry({ source: "pine", receivedAt, decision: old }, now, 0), undefined);
  const sell = { ...old, action: "sell" as const };
  assert.equal(staleEntry({ source: "pine", receivedAt, decision: sell }, now, 300), undefined);
  // A strategy decision's ts is its candle's open time: its age counts from the receipt.
  assert.equal(staleEntry({ source: "strategy", receivedAt, decision: old }, now, 300), undefined);
  const storedBeforeACrash = new Date("2026-01-01T00:30:00Z");
  assert.match(
    staleEntry({ source: "strategy", receivedAt: storedBeforeACrash, decision: old }, now, 300) ??
      "",
    /is 1800 s old, over SIGNAL_MAX_AGE_S=300/,
  );
  // Without ts the age counts from the receipt.
  assert.equal(staleEntry({ source: "csv", receivedAt, decision: buy }, now, 300), undefined);
  const lateReceipt = new Date("2026-01-01T00:00:00Z");
  assert.match(
    staleEntry({ source: "csv", receivedAt: lateReceipt, decision: buy }, now, 300) ?? "",
    /3600 s old/,
  );
  // An unreadable ts is not a reason to refuse.
  const bad = { ...buy, ts: "yesterday" };
  assert.equal(staleEntry({ source: "pine", receivedAt, decision: bad }, now, 300), undefined);
});

Deno.test("an alert's qty above the risk-based size is capped by the risk rule and says so", () => {
  const r = plan({ d: { qty: "0.5" } });
  assert.ok(r.ok);
  // 1 % of 10,000 over a 1,000 stop distance: 0.1 BTC, not the alert's 0.5.
  assert.equal(r.plan.qty, "0.1");
  assert.equal(r.plan.sizingNote, "qty 0.5 from the alert capped to 0.1 by 1 % risk");
});

Deno.test("an alert's qty within the risk-based size is traded as given", () => {
  const r = plan({ d: { qty: "0.05" } });
  assert.ok(r.ok);
  assert.equal(r.plan.qty, "0.05");
  assert.equal(r.plan.sizingNote, "qty 0.05 from the alert (within 1 % risk)");
});

Deno.test("the cap names the free cash or the notional cap when that binds first", () => {
  const cash = plan({ d: { qty: "0.5" }, freeQuote: 1_000 });
  assert.ok(cash.ok);
  // A market buy keeps a margin of the cash for the price it fills at (marketBuyCashMarginPct).
  assert.equal(cash.plan.qty, "0.0199");
  assert.match(
    cash.plan.sizingNote!,
    /capped to 0\.0199 by the free 1000\.00 USDT less 0\.5 % for the market's price/,
  );
  // A limit buy never fills above its price: all of the cash.
  const limit = plan({ d: { qty: "0.5", price: "50000" }, freeQuote: 1_000 });
  assert.ok(limit.ok);
  assert.equal(limit.plan.qty, "0.02");
  assert.match(limit.plan.sizingNote!, /capped to 0\.02 by the free 1000\.00 USDT$/);
  const capped = plan({ d: { qty: "0.5" }, strategy: { ...base.strategy, maxNotionalQuote: 500 } });
  assert.ok(capped.ok);
  assert.equal(capped.plan.qty, "0.01");
  assert.match(capped.plan.sizingNote!, /by the strategy's max notional 500 USDT/);
});

Deno.test("qty policy trust trades the alert's qty beyond the risk rule", () => {
  const r = plan({ d: { qty: "0.15" }, strategy: { ...base.strategy, qtyPolicy: "trust" } });
  assert.ok(r.ok);
  assert.equal(r.plan.qty, "0.15");
  assert.equal(r.plan.sizingNote, "qty 0.15 from the alert (qty policy trust)");
});

Deno.test("an entry without qty says it was sized by the risk rule", () => {
  const r = plan();
  assert.ok(r.ok);
  assert.equal(r.plan.sizingNote, "qty 0.1 sized by 1 % risk");
});

Deno.test("a market entry without tp gets its target from the reference price", () => {
  const r = plan({ refPrice: "50000.005", strategy: { ...base.strategy, takeProfitPct: 4 } });
  assert.ok(r.ok);
  // 50000.005 × 1.04 = 52000.0052, down to the tick.
  assert.equal(r.plan.takeProfitPrice, "52000");
  assert.equal(r.plan.type, "market");
});

Deno.test("an alert's own tp wins, and no distance means no target", () => {
  const own = plan({ d: { tp: "55000" }, strategy: { ...base.strategy, takeProfitPct: 4 } });
  assert.ok(own.ok);
  assert.equal(own.plan.takeProfitPrice, "55000");
  const none = plan();
  assert.ok(none.ok);
  assert.equal(none.plan.takeProfitPrice, undefined);
});

Deno.test("a limit entry without tp takes its target from its own price", () => {
  const r = plan({
    d: { price: "48000" },
    strategy: { ...base.strategy, takeProfitPct: 5 },
  });
  assert.ok(r.ok);
  assert.equal(r.plan.takeProfitPrice, "50400");
});

Deno.test("an entry's trail: the alert's distance wins, the activation is the strategy's", () => {
  const trailing = { ...base.strategy, trailPct: 2, trailActivationPct: 1 };
  const none = plan();
  assert.ok(none.ok);
  assert.equal(none.plan.trail, undefined);
  const own = plan({ strategy: trailing });
  assert.ok(own.ok);
  assert.deepEqual(own.plan.trail, { pct: "2", activationPct: "1" });
  const alert = plan({ strategy: trailing, d: { trailPct: "5" } });
  assert.ok(alert.ok);
  assert.deepEqual(alert.plan.trail, { pct: "5", activationPct: "1" });
  const noStrategyTrail = plan({ d: { trailPct: "3" } });
  assert.ok(noStrategyTrail.ok);
  assert.deepEqual(noStrategyTrail.plan.trail, { pct: "3", activationPct: "0" });
  const sell = plan({ strategy: trailing, positionQty: "1", d: { action: "sell" } });
  assert.ok(sell.ok);
  assert.equal(sell.plan.trail, undefined, "a sell has no trail");
  const r = parseDecision({ ...base.decision, trailPct: "100" });
  assert.equal(r.ok, false);
});

const eth = {
  decision: { ...base.decision, symbol: "ETH/USDT", sl: "98" },
  rules: { tick_size: "0.01", step_size: "0.0001", min_qty: "0.0001", min_notional: "5" },
  refPrice: "100",
  strategy: {
    ...base.strategy,
    takeProfitPct: 4,
    tpLadder: [{ pct: 4, share: 50 }, { pct: 8, share: 50 }],
  },
};

Deno.test("a laddered entry plans its slices on what is left after the buy's fee", () => {
  const r = plan({ ...eth, d: { ...eth.decision, qty: "1", tp: "130" } });
  assert.ok(r.ok);
  // 1 less the 0.1 % fee = 0.999: 0.4995 at 104, the rest (0.4995) at 108.
  assert.deepEqual(r.plan.ladder?.map((s) => [s.price, s.qty]), [["104", "0.4995"], [
    "108",
    "0.4995",
  ]]);
  // The ladder replaces the single target: neither the alert's tp nor take_profit_pct.
  assert.equal(r.plan.takeProfitPrice, undefined);
  assert.equal(r.plan.sizingNote, "qty 1 from the alert (within 1 % risk)");
  // A sell has no ladder; a strategy without one keeps its target.
  const sell = plan({ ...eth, d: { action: "sell" }, positionQty: "1" });
  assert.ok(sell.ok && sell.plan.ladder === undefined);
  const single = plan({ ...eth, strategy: base.strategy, d: { ...eth.decision, tp: "130" } });
  assert.ok(single.ok && single.plan.ladder === undefined && single.plan.takeProfitPrice === "130");
});

Deno.test("a ladder slice too small to sell is merged, and the order's note says so", () => {
  const r = plan({
    ...eth,
    d: { ...eth.decision, qty: "0.1" },
    strategy: { ...eth.strategy, tpLadder: [{ pct: 4, share: 5 }, { pct: 8, share: 95 }] },
  });
  assert.ok(r.ok);
  assert.deepEqual(r.plan.ladder?.map((s) => [s.pct, s.share, s.qty]), [[8, 100, "0.0999"]]);
  assert.match(
    r.plan.sizingNote ?? "",
    /; take-profit ladder: the 5 % at \+4 % joins \+8 % \(0\.0049 at 104 is 0\.5096, below the minimum notional 5\)$/,
  );
});

Deno.test("an entry whose ladder cannot be sold is refused with the numbers", () => {
  // No minimum notional, a minimum quantity of 0.001: 0.001 bought leaves 0.0009 after the fee.
  const rules = { tick_size: "0.01", step_size: "0.0001", min_qty: "0.001" };
  const r = plan({ ...eth, rules, d: { ...eth.decision, qty: "0.001" } });
  assert.deepEqual(r, {
    ok: false,
    reason: 'Cannot trade "k": the take-profit ladder cannot be sold: quantity 0.0009 is ' +
      "below the minimum 0.001",
  });
  assert.ok(plan({ ...eth, rules, strategy: base.strategy, d: { qty: "0.001", sl: "98" } }).ok);
});

Deno.test("a buy whose target is not above its entry is refused; a ladder's entry keeps no target", () => {
  // A market buy: the entry is the reference price, which the alert's tp may be under.
  const under = plan({ d: { tp: "40000", sl: "39000" } });
  assert.ok(!under.ok);
  assert.match(under.reason, /target 40000 is not above the entry 50000 of a long position/);
  const at = plan({ d: { tp: "50000", sl: "49000" } });
  assert.ok(!at.ok);
  const above = plan({ d: { tp: "50000.01", sl: "49000" } });
  assert.ok(above.ok && above.plan.takeProfitPrice === "50000.01");
  // The ladder replaces the single target: the alert's tp is not looked at.
  const ladder = plan({
    d: { tp: "40000", sl: "49000", qty: "0.01" },
    strategy: { ...base.strategy, tpLadder: [{ pct: 4, share: 100 }] },
  });
  assert.ok(ladder.ok, JSON.stringify(ladder));
  assert.equal(ladder.plan.takeProfitPrice, undefined);
});

Deno.test("an order above the market's largest is capped to it and says so", () => {
  const rules = { ...base.rules, max_qty: "9000", market_max_qty: "0.05" };
  // A market entry sized 0.1 by the risk rule: MARKET_LOT_SIZE's 0.05 is the largest.
  const market = plan({ rules });
  assert.ok(market.ok);
  assert.equal(market.plan.qty, "0.05");
  assert.match(
    market.plan.sizingNote ?? "",
    /qty 0\.1 capped to 0\.05, the market's largest market order/,
  );
  // A limit entry is bound by LOT_SIZE only.
  const limit = plan({ rules: { ...rules, max_qty: "0.08" }, d: { price: "50000" } });
  assert.ok(limit.ok);
  assert.equal(limit.plan.qty, "0.08");
  assert.match(limit.plan.sizingNote ?? "", /capped to 0\.08, the market's largest order$/);
  // An exit of more sells the largest; the rest is for the next exit.
  const exit = plan({ rules, d: { action: "sell" }, positionQty: "0.12" });
  assert.ok(exit.ok);
  assert.equal(exit.plan.qty, "0.05");
  assert.match(exit.plan.sizingNote ?? "", /the rest is left for the next exit/);
  // Within the largest, nothing changes.
  const small = plan({ rules, d: { qty: "0.01" } });
  assert.ok(small.ok);
  assert.equal(small.plan.qty, "0.01");
  assert.doesNotMatch(small.plan.sizingNote ?? "", /capped/);
});

Deno.test("a market sell capped to the market's largest leaves a rest the next exit can sell", () => {
  const rules = { ...base.rules, max_qty: "9000", market_max_qty: "0.05" };
  // 0.05005 held: the largest, 0.05, would leave 0.00005 (2.5 USDT, under the 5 minimum), which
  // no order could ever sell; selling 0.04995 leaves 0.0001 (5 USDT) for the next exit.
  for (const qty of [undefined, "0.05"]) {
    const r = plan({ rules, d: { action: "sell", qty }, positionQty: "0.05005" });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.plan.qty, "0.04995", `alert qty ${qty}`);
    assert.match(r.plan.sizingNote ?? "", /capped to 0\.04995/);
  }
  // Where the largest leaves enough, it is sold whole.
  const enough = plan({ rules, d: { action: "sell" }, positionQty: "0.0502" });
  assert.ok(enough.ok);
  assert.equal(enough.plan.qty, "0.05");
});
