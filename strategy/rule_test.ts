import assert from "node:assert/strict";
import { checkPlan, type StrategyParams } from "./rule.ts";
import { createRunner } from "./runner.ts";

const params: StrategyParams = {
  name: "t",
  emaFast: 2,
  emaSlow: 3,
  rsiPeriod: 2,
  rsiOverbought: 90,
  rsiOversold: 10,
  stopPct: 2,
  takeProfitPct: 4,
  confidenceMin: 0.1,
  riskPct: 1,
};

const run = (p: StrategyParams, closes: number[]) => {
  const r = createRunner(p);
  return closes.map((close, i) => r.onCandle({ ts: i * 60_000, close }));
};

// Closes 10 9 8 7 8 10. EMA(2): 10, 9.333, 8.444, 7.481, 7.827, 9.276; EMA(3): 10, 9.5, 8.75,
// 7.875, 7.938, 8.969. Fast is below slow until the last close, where it crosses above.
// RSI(2): changes −1 −1 −1 +1 +2 → 0, 0, 50, then gains 1.25 / losses 0.25 → 83.333.
const DOWN_THEN_UP = [10, 9, 8, 7, 8, 10];

Deno.test("a cross of the fast EMA above the slow one is a buy with stop and target", () => {
  const out = run(params, DOWN_THEN_UP);
  assert.deepEqual(out.slice(0, 5).map((o) => o.kind), ["none", "none", "none", "none", "none"]);
  const last = out[5];
  assert.equal(last.kind, "signal");
  if (last.kind !== "signal") return;
  assert.equal(last.signal.action, "buy");
  assert.equal(last.signal.candleTs, 5 * 60_000);
  assert.equal(last.signal.entry, 10);
  assert.ok(Math.abs(last.signal.stop - 9.8) < 1e-12);
  assert.ok(Math.abs(last.signal.target - 10.4) < 1e-12);
  assert.ok(Math.abs(last.signal.rsi - 250 / 3) < 1e-9);
  // Room left before overbought: (90 − 83.333) / (90 − 50) = 1/6.
  assert.ok(Math.abs(last.signal.confidence - 1 / 6) < 1e-9);
});

Deno.test("a buy is filtered out when RSI is overbought", () => {
  const out = run({ ...params, rsiOverbought: 80 }, DOWN_THEN_UP);
  assert.deepEqual(out[5], { kind: "dropped", action: "buy", reason: "RSI 83.33 is overbought" });
});

Deno.test("a buy below the confidence floor is dropped", () => {
  const out = run({ ...params, confidenceMin: 0.5 }, DOWN_THEN_UP);
  assert.equal(out[5].kind, "dropped");
  assert.match((out[5] as { reason: string }).reason, /confidence 0\.167 is below the floor 0\.5/);
});

Deno.test("a cross below is a sell with the stop above the entry", () => {
  // The mirror image of the buy series: RSI 16.667, confidence (16.667 − 10) / 40 = 1/6.
  const out = run(params, DOWN_THEN_UP.map((c) => 20 - c));
  assert.equal(out[5].kind, "signal");
  if (out[5].kind !== "signal") return;
  assert.equal(out[5].signal.action, "sell");
  assert.ok(Math.abs(out[5].signal.stop - 10.2) < 1e-12);
  assert.ok(Math.abs(out[5].signal.target - 9.6) < 1e-12);
  assert.ok(Math.abs(out[5].signal.confidence - 1 / 6) < 1e-9);
  const oversold = run({ ...params, rsiOversold: 20 }, DOWN_THEN_UP.map((c) => 20 - c));
  assert.equal(oversold[5].kind, "dropped");
});

Deno.test("no signal while the indicators warm up or without a cross", () => {
  assert.ok(run(params, [10, 11]).every((o) => o.kind === "none"));
  assert.ok(run(params, [10, 11, 12, 13, 14, 15, 16]).every((o) => o.kind === "none"));
});

Deno.test("a plan without a valid stop is dropped", () => {
  const base = {
    action: "buy" as const,
    candleTs: 0,
    entry: 10,
    target: 11,
    confidence: 1,
    rsi: 50,
  };
  assert.equal(checkPlan({ ...base, stop: Number.NaN }, 0).kind, "dropped");
  assert.equal(checkPlan({ ...base, stop: 0 }, 0).kind, "dropped");
  assert.equal(checkPlan({ ...base, stop: 10.5 }, 0).kind, "dropped");
  assert.equal(checkPlan({ ...base, action: "sell", stop: 9.5 }, 0).kind, "dropped");
  assert.equal(checkPlan({ ...base, stop: 9.5 }, 0).kind, "signal");
});
