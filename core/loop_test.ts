import assert from "node:assert/strict";
import { startLoop } from "./loop.ts";
import { fakeClock, systemClock } from "./clock.ts";
import { logger, setupLogging } from "./log.ts";
import { backoffMs } from "./backoff.ts";
import { isValidSchedule } from "./scheduler.ts";

setupLogging({ level: "error", write: () => {} });

Deno.test("a loop never runs twice at once and stops on abort", async () => {
  const controller = new AbortController();
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  const handle = startLoop({
    name: "t",
    intervalMs: 1,
    signal: controller.signal,
    clock: systemClock,
    log: logger("test"),
    run: async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs++;
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (runs === 5) controller.abort();
    },
  });
  handle.wake();
  handle.wake();
  await handle.stopped;
  assert.equal(maxRunning, 1);
  assert.equal(runs, 5);
});

Deno.test("a failing loop backs off, reports each failure and keeps going", async () => {
  const controller = new AbortController();
  const failures: number[] = [];
  const delays: number[] = [];
  const handle = startLoop({
    name: "failing",
    intervalMs: 10,
    signal: controller.signal,
    clock: {
      now: () => new Date(),
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
    },
    log: logger("test"),
    run: () => Promise.reject(new Error("down")),
    onError: (_e, n) => {
      failures.push(n);
      if (n === 4) controller.abort();
    },
  });
  await handle.stopped;
  assert.deepEqual(failures, [1, 2, 3, 4]);
  assert.equal(delays.length, 3);
  assert.ok(delays[2] >= delays[0], "delays grow");
});

Deno.test("wake() starts the next run before the interval ends", async () => {
  const controller = new AbortController();
  let runs = 0;
  const handle = startLoop({
    name: "wake",
    intervalMs: 60_000,
    signal: controller.signal,
    clock: systemClock,
    log: logger("test"),
    run: () => {
      runs++;
      if (runs === 2) controller.abort();
      return Promise.resolve();
    },
  });
  await new Promise((r) => setTimeout(r, 10));
  handle.wake();
  await handle.stopped;
  assert.equal(runs, 2);
});

Deno.test("backoff grows exponentially within its bounds", () => {
  const lo = () => 0;
  const hi = () => 0.999;
  assert.equal(backoffMs(0, { baseMs: 100, random: lo }), 50);
  assert.equal(backoffMs(3, { baseMs: 100, random: lo }), 400);
  assert.ok(backoffMs(3, { baseMs: 100, random: hi }) <= 800);
  assert.equal(backoffMs(40, { baseMs: 100, maxMs: 1000, random: hi }), 1000);
});

Deno.test("cron schedules are checked before registration", () => {
  assert.ok(isValidSchedule("* * * * *"));
  assert.ok(isValidSchedule("*/5 0-6 * * 1,3"));
  assert.ok(!isValidSchedule("* * * *"));
  assert.ok(!isValidSchedule("every minute"));
});

Deno.test("a loop that keeps failing is raised once at WARN, once at CRITICAL, then recovered", async () => {
  const clock = fakeClock();
  const controller = new AbortController();
  const told: string[] = [];
  let runs = 0;
  const handle = startLoop({
    name: "t",
    intervalMs: 10_000,
    maxBackoffMs: 10_000,
    signal: controller.signal,
    clock,
    log: logger("test"),
    failingWarnMs: 30_000,
    failingCriticalMs: 60_000,
    onFailing: (f) => void told.push(`${f.level}:${f.failures}`),
    run: () => {
      runs++;
      if (runs === 12) controller.abort();
      // Fails for 9 runs (90 s of the fake clock), then works.
      return runs <= 9 ? Promise.reject(new Error("down")) : Promise.resolve();
    },
  });
  await handle.stopped;
  assert.deepEqual(told, ["WARN:4", "CRITICAL:7", "RECOVERED:9"]);
});
