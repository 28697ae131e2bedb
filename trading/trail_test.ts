import assert from "node:assert/strict";
import { trailedStop } from "./trail.ts";

const spec = { trailPct: 2, activationPct: 1, stepPct: 0.5 };

Deno.test("the trail waits for the activation, then follows the high by its distance", () => {
  assert.equal(trailedStop(100, 100.9, 98, spec), undefined);
  assert.equal(trailedStop(100, 105, 98, spec), 105 * 0.98);
  // Without a stop yet, the first activated high sets it.
  assert.equal(trailedStop(100, 101, null, spec), 101 * 0.98);
  assert.equal(trailedStop(100, 100, undefined, { ...spec, activationPct: 0 }), 98);
});

Deno.test("a trailing stop never moves down and moves up only by a step", () => {
  const current = 105 * 0.98;
  // A lower high (the price fell back) never lowers the stop.
  assert.equal(trailedStop(100, 103, current, spec), undefined);
  // Less than 0.5 % above the current stop: not worth a re-placement.
  assert.equal(trailedStop(100, 105.4, current, spec), undefined);
  const higher = trailedStop(100, 105.6, current, spec);
  assert.ok(higher !== undefined && higher > current * 1.005);
  // With no step, any rise moves it; an equal one does not.
  assert.equal(trailedStop(100, 105, current, { ...spec, stepPct: 0 }), undefined);
  assert.ok(trailedStop(100, 105.01, current, { ...spec, stepPct: 0 })! > current);
});

Deno.test("bad prices and distances never move a stop", () => {
  for (const [entry, high] of [[NaN, 110], [100, Infinity], [0, 110], [100, -1]]) {
    assert.equal(trailedStop(entry, high, 90, spec), undefined);
  }
  assert.equal(trailedStop(100, 110, 90, { ...spec, trailPct: 0 }), undefined);
  assert.equal(trailedStop(100, 110, 90, { ...spec, trailPct: 100 }), undefined);
});
