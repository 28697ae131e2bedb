import assert from "node:assert/strict";
import { checkRisk } from "./rules.ts";

const position = { stopPrice: "49000", takeProfitPrice: "55000" };

Deno.test("a last price at or below the stop is a stop-loss", () => {
  assert.deepEqual(checkRisk(position, 48_999.5), { kind: "stop_loss", triggerPrice: "49000" });
  assert.deepEqual(checkRisk(position, 49_000), { kind: "stop_loss", triggerPrice: "49000" });
});

Deno.test("a last price at or above the target is a take-profit", () => {
  assert.deepEqual(checkRisk(position, 55_000), { kind: "take_profit", triggerPrice: "55000" });
  assert.deepEqual(checkRisk(position, 60_000), { kind: "take_profit", triggerPrice: "55000" });
});

Deno.test("a price between stop and target does nothing", () => {
  assert.equal(checkRisk(position, 49_000.01), undefined);
  assert.equal(checkRisk(position, 54_999.99), undefined);
});

Deno.test("no stop set: only the target can trigger, and neither set triggers nothing", () => {
  assert.equal(checkRisk({ takeProfitPrice: "55000" }, 1), undefined);
  assert.equal(checkRisk({ stopPrice: null, takeProfitPrice: null }, 1), undefined);
  assert.equal(
    checkRisk({ stopPrice: null, takeProfitPrice: "55000" }, 56_000)?.kind,
    "take_profit",
  );
  assert.equal(checkRisk({ stopPrice: "49000" }, 1_000_000), undefined);
});

Deno.test("a bad last price or a bad stored price is never a trigger", () => {
  for (const last of [NaN, 0, -1, Infinity]) assert.equal(checkRisk(position, last), undefined);
  assert.equal(checkRisk({ stopPrice: "abc" }, 1), undefined);
  assert.equal(checkRisk({ stopPrice: "0" }, 0.5), undefined);
});

Deno.test("a stop at or above the target: the stop wins", () => {
  assert.equal(
    checkRisk({ stopPrice: "50000", takeProfitPrice: "49000" }, 49_500)?.kind,
    "stop_loss",
  );
});
