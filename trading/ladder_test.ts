import assert from "node:assert/strict";
import { breakevenStop, formatLadder, parseLadder, planLadder } from "./ladder.ts";

Deno.test("a ladder parses, rises and adds up to 100 %", () => {
  assert.deepEqual(parseLadder("4:50, 8:50"), [{ pct: 4, share: 50 }, { pct: 8, share: 50 }]);
  assert.equal(formatLadder(parseLadder("2.5:30,5:30,9:40")), "2.5:30,5:30,9:40");
  for (
    const [text, why] of [
      ["", /no levels/],
      ["4-50", /not PCT:SHARE/],
      ["0:100", /above 0 %/],
      ["4:0,8:100", /share must be above 0/],
      ["8:50,4:50", /must rise/],
      ["4:50,8:40", /add up to 90 %/],
    ] as const
  ) assert.throws(() => parseLadder(text), why);
});

const rules = { tick_size: "0.01", step_size: "0.001", min_qty: "0.001", min_notional: "10" };

Deno.test("each slice is a share of the quantity; the last takes the rest", () => {
  const plan = planLadder(parseLadder("4:30,8:70"), "100", "1.001", "98", rules);
  assert.ok(plan.ok);
  assert.deepEqual(plan.slices.map((s) => [s.price, s.qty]), [["104", "0.3"], ["108", "0.701"]]);
  assert.deepEqual(plan.merged, []);
});

Deno.test("a slice too small to sell joins the next one, with the numbers", () => {
  // 0.15 × 5 % = 0.0075 ETH at 104 = 0.78 USDT: below the 10 minimum notional.
  const plan = planLadder(parseLadder("4:5,8:95"), "100", "0.15", "98", rules);
  assert.ok(plan.ok);
  assert.deepEqual(plan.slices.map((s) => [s.pct, s.share, s.qty]), [[8, 100, "0.15"]]);
  assert.match(plan.merged[0], /the 5 % at \+4 % joins \+8 % \(0\.007 at 104 is 0\.728/);
});

Deno.test("a slice whose remainder is too small to sell at the stop joins the next one", () => {
  // The last 5 % (0.06) would be 5.88 at the stop 98: the slice before it joins it.
  const plan = planLadder(parseLadder("4:45,6:50,8:5"), "100", "1.2", "98", rules);
  assert.ok(plan.ok);
  assert.deepEqual(plan.slices.map((s) => [s.pct, s.share, s.qty]), [[4, 45, "0.54"], [
    8,
    55,
    "0.66",
  ]]);
  assert.match(
    plan.merged[0],
    /the 50 % at \+6 % joins \+8 % \(the remainder after it: 0\.06 at 98/,
  );
  // 0.22 = 0.11 + 0.11: each sells for more than 10 at its target, and the remainder at the stop too.
  const fine = planLadder(parseLadder("4:50,8:50"), "100", "0.22", "98", rules);
  assert.ok(fine.ok && fine.slices.length === 2);
  // 0.15: slice 1 (0.075 at 104 = 7.8) is too small and joins slice 2.
  const joined = planLadder(parseLadder("4:50,8:50"), "100", "0.15", "98", rules);
  assert.ok(joined.ok && joined.slices.length === 1 && joined.slices[0].qty === "0.15");
});

Deno.test("a ladder that cannot be sold even whole is refused with the numbers", () => {
  const plan = planLadder(parseLadder("4:50,8:50"), "100", "0.05", "98", rules);
  assert.deepEqual(plan, {
    ok: false,
    reason:
      "the take-profit ladder cannot be sold: 0.05 at 108 is 5.4, below the minimum notional 10",
  });
});

Deno.test("break even covers the fees of both sides, rounded up to the tick", () => {
  assert.equal(breakevenStop("100", "0.001", "0.01"), "100.21");
  assert.equal(breakevenStop("100", "0"), "100");
});
