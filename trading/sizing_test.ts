import assert from "node:assert/strict";
import { decimalsOf, floorToStep, sizePosition } from "./sizing.ts";

Deno.test("size = equity × risk% / |entry − stop|, truncated to the step", () => {
  const r = sizePosition({
    equityQuote: 10_000,
    freeQuote: 10_000,
    riskPct: 1,
    entryPrice: 50_000,
    stopPrice: 49_000,
    stepSize: 0.00001,
  });
  assert.deepEqual(r.ok && r.qty, "0.10000");
});

Deno.test("size is capped by free cash including the fee", () => {
  const r = sizePosition({
    equityQuote: 10_000,
    freeQuote: 1_000,
    riskPct: 2,
    entryPrice: 100,
    stopPrice: 99,
    stepSize: 0.01,
    feeRate: 0.001,
  });
  assert.ok(r.ok);
  assert.equal(r.qty, "9.99");
});

Deno.test("a stop at or above the entry is refused for a long", () => {
  const r = sizePosition({
    equityQuote: 1,
    freeQuote: 1,
    riskPct: 1,
    entryPrice: 10,
    stopPrice: 10,
  });
  assert.equal(r.ok, false);
});

Deno.test("risk beyond 3 % is refused", () => {
  const r = sizePosition({
    equityQuote: 1000,
    freeQuote: 1000,
    riskPct: 5,
    entryPrice: 10,
    stopPrice: 9,
  });
  assert.equal(r.ok, false);
});

Deno.test("step arithmetic prints without float noise", () => {
  assert.equal(decimalsOf(0.001), 3);
  assert.equal(decimalsOf(1e-8), 8);
  assert.equal(decimalsOf(1), 0);
  assert.equal(floorToStep(0.30000000000000004, 0.1), "0.3");
  assert.equal(floorToStep(1.23999, 0.01), "1.23");
});
