import assert from "node:assert/strict";
import { isDeadlineError, timeoutGroup } from "./deadline.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("a timeout group settles like each promise, or rejects it once its bound is over", async () => {
  const bounded = timeoutGroup(60, "Wait");
  assert.equal(await bounded(Promise.resolve(7)), 7);
  await assert.rejects(bounded(Promise.reject(new Error("own"))), /own/);

  // Waits started 0, 20 and 40 ms apart, none of which ends by itself: each runs out on its
  // own bound, never before it; one that ends in time is answered.
  const t0 = performance.now();
  const never = new Promise<never>(() => {});
  const started: Promise<number>[] = [];
  for (let i = 0; i < 3; i++) {
    started.push(
      bounded(never).catch((e) => {
        assert.ok(isDeadlineError(e) && e.ms === 60 && /Wait timed out/.test(e.message));
        return performance.now() - t0;
      }),
    );
    if (i === 1) started.push(bounded(sleep(30).then(() => -1)));
    await sleep(20);
  }
  const [a, b, inTime, c] = await Promise.all(started);
  assert.equal(inTime, -1);
  assert.ok(a >= 60 && b >= 80 && c >= 100, `${a} ${b} ${c}`);
  // (The op sanitizer of this test fails it if a timer is left behind.)
});
