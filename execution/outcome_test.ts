import assert from "node:assert/strict";
import {
  AuthError,
  DatabaseUnavailableError,
  nextStep,
  RateLimitedError,
  RejectedError,
  TemporaryError,
} from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import {
  ExchangeMaintenanceError,
  OrderOutcomeUnknownError,
  UnclassifiedRejectionError,
} from "../exchange/mod.ts";
import { countsAsFailure, createFailure, pauseOf } from "./outcome.ts";

Deno.test("a refused create rejects the order and the alert; an unclassified refusal is rechecked", () => {
  assert.deepEqual(createFailure(new RejectedError("insufficient balance")), {
    kind: "rejected",
    order: "REJECTED",
    alert: "REJECTED",
    recheck: false,
  });
  assert.deepEqual(createFailure(new AuthError("invalid key")), {
    kind: "rejected",
    order: "REJECTED",
    alert: "REJECTED",
    recheck: false,
  });
  assert.deepEqual(createFailure(new UnclassifiedRejectionError("-9999")), {
    kind: "rejected",
    order: "REJECTED",
    alert: "REJECTED",
    recheck: true,
  });
});

Deno.test("a rate limit or maintenance defers the alert and pauses entries", () => {
  assert.deepEqual(createFailure(new RateLimitedError("429", 12_000)), {
    kind: "deferred",
    order: "REJECTED",
    alert: "RECEIVED",
    pauseMs: 12_000,
  });
  assert.deepEqual(createFailure(new ExchangeMaintenanceError("system maintenance")), {
    kind: "deferred",
    order: "REJECTED",
    alert: "RECEIVED",
    pauseMs: limits.maintenancePauseMs,
  });
});

Deno.test("a lost answer, a 5xx or an unknown error leaves the order UNKNOWN for the reconciler", () => {
  const unknown = { kind: "unknown", order: "UNKNOWN", alert: "PROCESSING" };
  for (
    const e of [
      new OrderOutcomeUnknownError("timeout"),
      new TemporaryError("502"),
      new DatabaseUnavailableError("down"),
      new Error("bug"),
      "thrown string",
    ]
  ) {
    assert.deepEqual(createFailure(e), unknown, String(e));
  }
});

Deno.test("only errors that waiting does not cure count towards setting an alert aside", () => {
  const counts = (e: unknown) => countsAsFailure(nextStep(e));
  assert.equal(counts(new Error("bug")), true);
  assert.equal(counts(new RejectedError("no")), true);
  for (
    const e of [
      new TemporaryError("502"),
      new RateLimitedError("429", 1000),
      new ExchangeMaintenanceError("m"),
      new DatabaseUnavailableError("down"),
      new AuthError("key"),
      Object.assign(new Error("deadlock"), { code: "40P01" }),
    ]
  ) {
    assert.equal(counts(e), false, String(e));
  }
  assert.equal(pauseOf(nextStep(new TemporaryError("502"))), undefined);
});
