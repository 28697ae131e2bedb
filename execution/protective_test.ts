import assert from "node:assert/strict";
import { protectiveKey, protectiveOrder } from "./protective.ts";

const rules = { tick_size: "0.01", step_size: "0.00001" };

Deno.test("a protective stop sells the quantity held, truncated to the step, at the stop", () => {
  const o = protectiveOrder({ qty: "0.009990000", stop_price: "49000.00" }, rules, 0.5);
  assert.deepEqual(o, { qty: "0.00999", stopPrice: "49000", limitPrice: "48755" });
});

Deno.test("its limit sits the offset below the stop, rounded down to the tick", () => {
  const o = protectiveOrder({ qty: "1", stop_price: "100.03" }, rules, 0.5);
  // 100.03 × 0.995 = 99.52985 → 99.52: never above the planned limit.
  assert.equal(o.limitPrice, "99.52");
});

Deno.test("the key names the position and its opening, so a reopened position gets new ids", () => {
  const at = new Date("2026-01-01T00:00:00Z");
  assert.equal(protectiveKey({ id: 7, opened_at: at }), `protect:stop:7:${at.getTime()}`);
});
