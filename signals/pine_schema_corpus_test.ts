/**
 * The fast path of parsePineAlert against the zod schema alone, on a corpus of alerts built
 * from good and bad field values (every field and many mixes): the same verdict, the same
 * parsed alert, the same error message, for each.
 */
import assert from "node:assert/strict";
import { fastPineAlert, parsePineAlert, parsePineAlertWithSchema } from "./pine_schema.ts";

const long = (n: number) => "x".repeat(n);

/** Values tried per field; `undefined` leaves the field out. */
const POOLS: Record<string, unknown[]> = {
  symbol: [
    "BINANCE:BTCUSDT",
    " BTC/USDT ",
    "ETH/USDT",
    "",
    "   ",
    long(64),
    long(65),
    ` ${long(64)} `,
    "\u00a0BTC/USDT",
    5,
    true,
    {},
    ["BTC/USDT"],
    null,
    undefined,
  ],
  side: [
    "buy",
    "SELL",
    " Buy ",
    "bUy\n",
    "hold",
    "",
    "buy sell",
    "\u00a0sell",
    "constructor",
    "toString",
    1,
    false,
    null,
    undefined,
  ],
  strategy: [
    "trend",
    " a.b-c_1 ",
    "bad name",
    long(64),
    long(65),
    "",
    "é",
    "tab\t",
    3,
    null,
    undefined,
  ],
  qty: [
    "0.001",
    0.5,
    "-2",
    "0",
    0,
    -1,
    "1e-3",
    1e-7,
    1e21,
    "  12.50 ",
    "00012.3400",
    "abc",
    "1".repeat(20),
    "1".repeat(21),
    `0.${"1".repeat(18)}`,
    `0.${"1".repeat(19)}`,
    ".5",
    "5.",
    true,
    {},
    null,
    "",
    undefined,
  ],
  confidence: [0, 1, 0.8, 1.5, -0.1, "0.8", " 0.2 ", " ", "0x1", "1e0", "abc", true, [], undefined],
  ts: [
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00+01:00",
    "2026-01-01T00:00:00.123456Z",
    "2024-02-29T10:00:00.123Z",
    "2026-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01",
    "2026-01-01T00:00:00",
    " 2026-01-01T00:00:00Z",
    "2026-01-01t00:00:00z",
    12345,
    undefined,
  ],
  idempotency_key: [
    "k",
    " k ",
    "   ",
    long(200),
    long(201),
    ` ${long(200)} `,
    5,
    "a\u0000b",
    undefined,
  ],
  extra: ["ignored", 7, { nested: true }, undefined],
};
POOLS.price = POOLS.qty;
POOLS.sl = POOLS.qty;
POOLS.tp = POOLS.qty;
POOLS.trail_pct = [...POOLS.qty, "99.99", "100", 100, "2", 2.5, "100.0001"];

/** A small deterministic PRNG (mulberry32): the corpus is the same on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Alerts that mostly pass, each with one or a few fields drawn from the whole pool. */
function corpus(n: number): Record<string, unknown>[] {
  const random = prng(14);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const good: Record<string, unknown> = {
    symbol: "BINANCE:BTCUSDT",
    side: "buy",
    strategy: "trend",
    qty: "0.001",
    price: "50000",
    ts: "2026-01-01T00:00:00Z",
    idempotency_key: "k-1",
  };
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const alert: Record<string, unknown> = random() < 0.5 ? { ...good } : {};
    const changed = 1 + Math.floor(random() * (alert.symbol ? 3 : 11));
    for (let c = 0; c < changed; c++) {
      const field = pick(Object.keys(POOLS));
      const value = pick(POOLS[field]);
      // Left out, or given as undefined (a row built in code): zod keeps the latter's key.
      if (value === undefined && random() < 0.5) delete alert[field];
      else alert[field] = value;
    }
    out.push(alert);
  }
  // Every value of every field alone in an otherwise good alert.
  for (const [field, values] of Object.entries(POOLS)) {
    for (const value of values) {
      const alert = { ...good, [field]: value };
      if (value === undefined) delete alert[field];
      out.push(alert);
    }
  }
  return out;
}

Deno.test("the fast path gives zod's verdict on every alert of a corpus", () => {
  let fast = 0;
  let valid = 0;
  for (const alert of corpus(20_000)) {
    const expected = parsePineAlertWithSchema(alert);
    assert.deepStrictEqual(parsePineAlert(alert), expected, JSON.stringify(alert));
    if (expected.ok) valid++;
    const cleaned = Object.entries(alert).filter(([, v]) => v !== null && v !== "");
    if (fastPineAlert(Object.fromEntries(cleaned))) fast++;
  }
  // The corpus holds both kinds, and every valid alert took the fast path.
  assert.ok(valid > 2_000 && valid < 18_000, `${valid} valid`);
  assert.equal(fast, valid);
});

Deno.test("the fast path and zod agree on alerts decoded from JSON, odd keys included", () => {
  const bodies = [
    '{"symbol":"BTC/USDT","side":"buy","strategy":"t","__proto__":{"qty":"5"}}',
    '{"__proto__":{"symbol":"BTC/USDT","side":"buy","strategy":"t"}}',
    '{"symbol":"BTC/USDT","side":"buy","strategy":"t","qty":null,"price":""}',
    '{"symbol":"BTC/USDT","side":"buy","strategy":"t","constructor":"x","toString":1}',
    "[]",
    "null",
    '"text"',
  ];
  for (const text of bodies) {
    const body = JSON.parse(text);
    assert.deepStrictEqual(parsePineAlert(body), parsePineAlertWithSchema(body), text);
  }
});
