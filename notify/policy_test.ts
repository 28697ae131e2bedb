import assert from "node:assert/strict";
import { RateLimitedError, TemporaryError } from "../core/errors.ts";
import { collapseKey, decideOutcome, rateLimiter } from "./policy.ts";
import { TelegramChatMigratedError, TelegramRejectedError } from "./telegram.ts";

const now = new Date("2026-01-01T00:00:00Z");
const temp = { error: new TemporaryError("502") };

Deno.test("temporary failures follow the schedule 1, 2, 5, 15 minutes, then FAILED on the 5th", () => {
  const waits = [];
  let failCount = 0;
  for (;;) {
    const o = decideOutcome(temp, failCount, now);
    if (o.kind !== "retry") {
      assert.deepEqual(o, { kind: "failed", failCount: 5, error: "502", deactivateChat: false });
      break;
    }
    waits.push((o.sendAfter.getTime() - now.getTime()) / 60_000);
    failCount = o.failCount;
  }
  assert.deepEqual(waits, [1, 2, 5, 15]);
});

Deno.test("a raised failure limit uses the 30 minute step", () => {
  const o = decideOutcome(temp, 4, now, { maxFailures: 6 });
  assert.equal(o.kind, "retry");
  assert.equal(o.kind === "retry" && o.sendAfter.getTime() - now.getTime(), 1_800_000);
});

Deno.test("a 429 waits retry_after and does not count as a failure", () => {
  const o = decideOutcome({ error: new RateLimitedError("429", 7000) }, 3, now);
  assert.deepEqual(o, {
    kind: "rate_limited",
    sendAfter: new Date(now.getTime() + 7000),
    error: "429",
  });
});

Deno.test("a refused chat fails at once and deactivates the chat; a refused text only fails", () => {
  const chat = decideOutcome({ error: new TelegramRejectedError("403", "chat") }, 0, now);
  assert.deepEqual(chat, { kind: "failed", failCount: 1, error: "403", deactivateChat: true });
  const text = decideOutcome({ error: new TelegramRejectedError("400", "text") }, 0, now);
  assert.deepEqual(text, { kind: "failed", failCount: 1, error: "400", deactivateChat: false });
});

Deno.test("the rate limiter spaces one chat at 1/s and all chats at the global rate", () => {
  const l = rateLimiter(1, 4);
  assert.deepEqual([l.reserve(1, 0), l.reserve(1, 0), l.reserve(1, 0)], [0, 1000, 2000]);
  const g = rateLimiter(1, 4);
  assert.deepEqual([1, 2, 3, 4, 5].map((c) => g.reserve(c, 0)), [0, 250, 500, 750, 1000]);
  const off = rateLimiter(0, 0);
  assert.deepEqual([off.reserve(1, 5), off.reserve(1, 5)], [5, 5]);
});

Deno.test("a paused chat gets no slot before the pause ends", () => {
  const l = rateLimiter(0, 0);
  l.pause(7, 9000);
  assert.equal(l.reserve(7, 100), 9000);
  assert.equal(l.reserve(8, 100), 100);
});

Deno.test("collapseKey gives repeated errors one key per window, ignoring numbers", () => {
  const a = collapseKey("db", "Timeout after 5001 ms on order 17", now);
  const b = collapseKey(
    "db",
    "Timeout after 4999 ms on order 18",
    new Date(now.getTime() + 1000),
  );
  const c = collapseKey("db", "Connection refused", now);
  const d = collapseKey(
    "db",
    "Timeout after 5001 ms on order 17",
    new Date(now.getTime() + 3_600_000),
  );
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.notEqual(a, d);
});

Deno.test("a group upgraded to a supergroup is followed, not counted as a failure", () => {
  const error = new TelegramChatMigratedError("400: upgraded", -1001234567890);
  assert.deepEqual(decideOutcome({ error }, 2, now), {
    kind: "migrated",
    toChatId: -1001234567890,
    error: "400: upgraded",
  });
});
