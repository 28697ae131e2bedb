import assert from "node:assert/strict";
import { closedPeriodsBetween, parseDay, periodOf } from "./period.ts";

Deno.test("a daily period is the UTC day; a weekly one starts on Monday", () => {
  const at = new Date("2026-12-02T13:45:00Z"); // a Wednesday
  assert.deepEqual(periodOf("daily", at), {
    kind: "daily",
    start: new Date("2026-12-02T00:00:00Z"),
    end: new Date("2026-12-03T00:00:00Z"),
  });
  assert.deepEqual(periodOf("weekly", at), {
    kind: "weekly",
    start: new Date("2026-11-30T00:00:00Z"),
    end: new Date("2026-12-07T00:00:00Z"),
  });
  // Monday 00:00 belongs to its own week, Sunday 23:59 to the one before.
  assert.equal(
    periodOf("weekly", new Date("2026-11-30T00:00:00Z")).start.toISOString(),
    "2026-11-30T00:00:00.000Z",
  );
  assert.equal(
    periodOf("weekly", new Date("2026-11-29T23:59:59Z")).start.toISOString(),
    "2026-11-23T00:00:00.000Z",
  );
});

Deno.test("closed periods between two times: only the ones whose end has passed", () => {
  const days = closedPeriodsBetween(
    "daily",
    new Date("2026-11-28T10:00:00Z"),
    new Date("2026-12-01T00:00:00Z"),
  );
  assert.deepEqual(days.map((p) => p.start.toISOString().slice(0, 10)), [
    "2026-11-29",
    "2026-11-30",
  ]);
  assert.deepEqual(
    closedPeriodsBetween(
      "weekly",
      new Date("2026-12-01T00:00:00Z"),
      new Date("2026-12-02T00:00:00Z"),
    ),
    [],
  );
});

Deno.test("--date takes real calendar days only", () => {
  assert.equal(parseDay("2026-02-28")?.toISOString(), "2026-02-28T00:00:00.000Z");
  assert.equal(parseDay("2026-02-30"), undefined);
  assert.equal(parseDay("2026-2-3"), undefined);
  assert.equal(parseDay("yesterday"), undefined);
});
