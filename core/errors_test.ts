import assert from "node:assert/strict";
import {
  AuthError,
  ConfigError,
  DatabaseUnavailableError,
  MaintenanceError,
  nextStep,
  RateLimitedError,
  RejectedError,
  TemporaryError,
} from "./errors.ts";

Deno.test("nextStep groups errors by what the caller does next", () => {
  assert.deepEqual(nextStep(new RateLimitedError("429", 7000)), { step: "wait", waitMs: 7000 });
  assert.deepEqual(nextStep(new MaintenanceError("503")), { step: "pause" });
  assert.deepEqual(nextStep(new DatabaseUnavailableError("down")), { step: "database_down" });
  assert.deepEqual(nextStep(new TemporaryError("502")), { step: "retry" });
  assert.deepEqual(nextStep(new RejectedError("no")), { step: "reject" });
  assert.deepEqual(nextStep(new AuthError("key")), { step: "fix_credentials" });
  assert.deepEqual(nextStep(new ConfigError("bad")), { step: "fix_config" });
  assert.deepEqual(nextStep(new Error("bug")), { step: "unclassified" });
  assert.deepEqual(nextStep("a string"), { step: "unclassified" });
  assert.deepEqual(nextStep(null), { step: "unclassified" });
});

Deno.test("database conditions that pass by themselves are retried; others are not", () => {
  const pg = (code: string) => Object.assign(new Error(code), { code });
  for (const code of ["40001", "40P01", "53300", "57014", "57P01", "55P03"]) {
    assert.deepEqual(nextStep(pg(code)), { step: "retry" }, code);
  }
  for (const code of ["23505", "42P01", "ECONNREFUSED", "22P02"]) {
    assert.deepEqual(nextStep(pg(code)), { step: "unclassified" }, code);
  }
});
