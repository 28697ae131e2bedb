import assert from "node:assert/strict";
import { checkRisk, exitVerdict, ladderExit } from "./rules.ts";

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

const exit = {
  kind: "stop_loss",
  positionId: 7,
  alertId: 70,
  alertStatus: "EXECUTED",
  alertError: null,
  orderStatus: "FILLED",
  positionOpen: false,
  positionQty: "0",
  attempts: 1,
};

Deno.test("an executed exit that closed the position is DONE", () => {
  assert.deepEqual(exitVerdict(exit, 3), { status: "DONE" });
});

Deno.test("an exit that left the position open is FAILED and the level stays armed", () => {
  const v = exitVerdict({
    ...exit,
    orderStatus: "CANCELED",
    positionOpen: true,
    positionQty: "0.4",
  }, 3);
  assert.equal(v.status, "FAILED");
  assert.ok(v.status === "FAILED");
  assert.equal(v.error, "the exit order ended CANCELED with 0.4 still open");
  assert.equal(v.severity, "WARN");
  assert.match(v.text, /^The stop-loss exit of position 7 did not close it: the exit order ended/);
  assert.match(v.text, /the level stays armed \(attempt 1 of 3\)$/);
  const none = exitVerdict({ ...exit, orderStatus: null, positionOpen: true, positionQty: "1" }, 3);
  assert.ok(none.status === "FAILED" && /ended without an order/.test(none.error));
});

Deno.test("a refused exit is FAILED with the alert's error, CRITICAL after the last attempt", () => {
  const refused = {
    ...exit,
    alertStatus: "REJECTED",
    alertError: "insufficient balance",
    positionOpen: true,
    positionQty: "1",
  };
  const v = exitVerdict({ ...refused, attempts: 3 }, 3);
  assert.ok(v.status === "FAILED");
  assert.equal(v.error, "insufficient balance");
  assert.equal(v.severity, "CRITICAL");
  assert.match(v.text, /no more automatic attempts: close the position by hand$/);
  const silent = exitVerdict({ ...exit, alertStatus: "DUPLICATE", positionOpen: true }, 3);
  assert.ok(silent.status === "FAILED" && silent.error === "alert 70 ended DUPLICATE");
  assert.equal(exitVerdict({ ...refused, kind: "take_profit" }, 3).status, "FAILED");
});

Deno.test("a failed operator's exit says to ask again, with no level or attempt count", () => {
  const v = exitVerdict({
    ...exit,
    kind: "exit",
    alertStatus: "REJECTED",
    alertError: "market closed",
    positionOpen: true,
    positionQty: "1",
  }, 3);
  assert.ok(v.status === "FAILED");
  assert.equal(v.severity, "CRITICAL");
  assert.equal(
    v.text,
    "The exit of position 7 asked by the operator did not close it: market closed; it is not " +
      "tried again on its own: ask again (/exit 7 or pg-solo-lite exit 7) or close it on the " +
      "exchange",
  );
});

Deno.test("an exit refused because a resting stop closed the position first is DONE", () => {
  const raced = { ...exit, alertStatus: "REJECTED", alertError: "no open position to sell" };
  assert.deepEqual(exitVerdict({ ...raced, orderStatus: null }, 3), { status: "DONE" });
  assert.equal(exitVerdict({ ...raced, alertStatus: "FAILED" }, 3).status, "FAILED");
});

Deno.test("a secret in the alert's error is redacted before it is stored or sent", () => {
  const leaky = {
    ...exit,
    alertStatus: "FAILED",
    alertError: "GET https://u:hunter2@x.test failed",
  };
  const v = exitVerdict(leaky, 3);
  assert.ok(v.status === "FAILED");
  assert.doesNotMatch(v.error, /hunter2/);
  assert.doesNotMatch(v.text, /hunter2/);
});

const slices = [{ price: "104", qty: "0.4995" }, { price: "108", qty: "0.4995" }];

Deno.test("a ladder hands over its next slice only, once its target is reached", () => {
  assert.equal(ladderExit(slices, 0, 103.99), undefined);
  assert.deepEqual(ladderExit(slices, 0, 104), {
    kind: "take_profit",
    triggerPrice: "104",
    slice: { n: 1, of: 2, qty: "0.4995" },
  });
  // Above both targets with none filled: still the first slice alone.
  assert.equal(ladderExit(slices, 0, 109)?.slice?.n, 1);
  // The first filled: the price back at 104 sells nothing more.
  assert.equal(ladderExit(slices, 1, 104), undefined);
  // The last slice sells everything held: no quantity of its own.
  assert.deepEqual(ladderExit(slices, 1, 108)?.slice, { n: 2, of: 2, qty: undefined });
  assert.equal(ladderExit(slices, 2, 200), undefined, "every slice filled");
  assert.equal(ladderExit(null, 0, 200), undefined);
  for (const last of [NaN, 0, -1]) assert.equal(ladderExit(slices, 0, last), undefined);
});

Deno.test("a slice's exit is DONE once its sell filled, the position still open", () => {
  const slice = { ...exit, kind: "take_profit", positionOpen: true, positionQty: "0.5005" };
  assert.deepEqual(exitVerdict({ ...slice, partial: true }, 3), { status: "DONE" });
  // Not a partial exit (a whole target, the last slice): open means not done.
  assert.equal(exitVerdict(slice, 3).status, "FAILED");
  // A slice whose sell did not fill (cancelled, refused) stays armed.
  const cancelled = exitVerdict({ ...slice, partial: true, orderStatus: "CANCELED" }, 3);
  assert.ok(cancelled.status === "FAILED");
  assert.match(cancelled.text, /did not sell its slice: .*the level stays armed/);
  const refused = exitVerdict({
    ...slice,
    partial: true,
    alertStatus: "REJECTED",
    alertError: "refused",
    orderStatus: "REJECTED",
  }, 3);
  assert.equal(refused.status, "FAILED");
});
