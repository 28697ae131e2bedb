import assert from "node:assert/strict";
import {
  compareDecimal,
  dec,
  isPositiveDecimalString,
  numberToDecimal,
  scaleByPct,
  toPositiveDecimal,
} from "./decimal.ts";

Deno.test("decimal sums and products are exact where floats are not", () => {
  assert.equal(dec.add("0.1", "0.2"), "0.3");
  assert.equal(dec.mul("0.00012", "50000.12"), "6.0000144");
  assert.equal(dec.mul("0.1", "3", 2), "0.3");
  assert.equal(dec.sub("1", "1.5"), "-0.5");
  assert.equal(dec.div("10", "3", 4), "3.3333");
});

Deno.test("decimal rounding to a step truncates sizes and rounds prices as asked", () => {
  assert.equal(dec.floorToStep("0.0012345", "0.00001"), "0.00123");
  assert.equal(dec.roundToStep("100.005", "0.01"), "100.01");
  assert.equal(dec.roundToStep("100.009", "0.01", "down"), "100");
  assert.equal(dec.roundToStep("100.001", "0.01", "up"), "100.01");
  assert.equal(dec.cmp("5", "4.99999999"), 1);
});

Deno.test("floats print as plain decimals without an exponent", () => {
  assert.equal(numberToDecimal(1e-8), "0.00000001");
  assert.equal(numberToDecimal(0.001), "0.001");
  assert.throws(() => dec.add("abc", "1"), /Not a decimal/);
});

Deno.test("quantities and prices become normalized positive decimal strings", () => {
  assert.equal(toPositiveDecimal("0.0100"), "0.01");
  assert.equal(toPositiveDecimal(0.1), "0.1");
  assert.equal(toPositiveDecimal(1e-7), "0.0000001");
  assert.equal(toPositiveDecimal(1.5e-7), "0.00000015");
  assert.equal(toPositiveDecimal("007"), "7");
  // A number past 18 decimals would be rounded by its conversion: refused, as its text is.
  assert.equal(toPositiveDecimal(1.234567e-15), undefined);
  assert.equal(toPositiveDecimal("0.000000000000001234567"), undefined);
  for (const bad of [0, -1, "0", "-1", "NaN", NaN, Infinity, "1e5", "", "1,5", true, null]) {
    assert.equal(toPositiveDecimal(bad), undefined, String(bad));
  }
});

Deno.test("a percentage of a price and comparisons stay exact at any number of decimals", () => {
  assert.equal(scaleByPct("0.00001234", "2", -1), "0.0000120932");
  assert.equal(scaleByPct("100.1", "1.5", 1), "101.6015");
  assert.equal(scaleByPct("3", "33.333", -1), "2.00001");
  assert.equal(compareDecimal("1.10", "1.1"), 0);
  assert.equal(compareDecimal("0.9", "1"), -1);
});

Deno.test("comparison does not truncate past 18 decimals", () => {
  assert.equal(compareDecimal("0.0000000000000000001", "0"), 1);
  assert.equal(dec.cmp("-0.5", "0.5"), -1);
  assert.throws(() => compareDecimal("1e5", "1"), /Not a decimal/);
});

Deno.test("a stored amount is a plain positive decimal string", () => {
  assert.ok(isPositiveDecimalString("0.01"));
  for (const bad of ["0", "0.0", "-1", "1e-2", ".5", "5.", ""]) {
    assert.equal(isPositiveDecimalString(bad), false, bad);
  }
});
