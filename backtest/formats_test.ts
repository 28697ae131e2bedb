import assert from "node:assert/strict";
import { streamCandleCsv } from "./csv.ts";
import { detectLayout, parseCandleLine } from "./formats.ts";
import { generateCandles } from "./sample.ts";
import type { Candle } from "../exchange/port.ts";

async function parse(text: string) {
  const path = await Deno.makeTempFile({ suffix: ".csv" });
  try {
    await Deno.writeTextFile(path, text);
    const candles: Candle[] = [];
    let layout = "";
    const report = await streamCandleCsv(path, (c) => candles.push(c), {
      onLayout: (l) => layout = l.name,
    });
    return { candles, report, layout };
  } finally {
    await Deno.remove(path);
  }
}

/** The careful path alone, line by line, as the reference for the fast one. */
function careful(text: string): Candle[] {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const layout = detectLayout(lines[0]);
  const out: Candle[] = [];
  for (const line of layout.header ? lines.slice(1) : lines) {
    const c = parseCandleLine(line, layout);
    if (typeof c === "string") throw new Error(`${c}: ${line}`);
    out.push(c);
  }
  return out;
}

const sample: Candle[] = [];
generateCandles({ count: 300, seed: 7 }, (c) => sample.push(c));
const ohlcv = (c: Candle) => `${c.open},${c.high},${c.low},${c.close},${c.volume}`;
const iso = (c: Candle) => new Date(c.ts).toISOString();
const offset = (ms: number, zone: string, minutes: number) =>
  new Date(ms + minutes * 60_000).toISOString().slice(0, 19) + zone;

const FORMATS: [string, string, string, (c: Candle, i: number) => string][] = [
  [
    "iso-8601 with ms and Z",
    "header",
    "ts,open,high,low,close,volume",
    (c) => `${iso(c)},${ohlcv(c)}`,
  ],
  ["iso-8601 without ms", "generic", "", (c) => `${iso(c).slice(0, 19)}Z,${ohlcv(c)}`],
  [
    "iso-8601 with an offset",
    "header",
    "timestamp,open,high,low,close,volume",
    (c, i) => `${i % 2 ? offset(c.ts, "+02:00", 120) : offset(c.ts, "-0530", -330)},${ohlcv(c)}`,
  ],
  [
    "iso-8601 with short fractions",
    "generic",
    "",
    (c, i) => `${iso(c).slice(0, 19)}.${"5".repeat(1 + i % 3)}Z,${ohlcv(c)}`,
  ],
  ["epoch seconds", "generic", "", (c) => `${c.ts / 1000},${ohlcv(c)}`],
  ["epoch milliseconds", "header", "ts,open,high,low,close,volume", (c) => `${c.ts},${ohlcv(c)}`],
  [
    "binance klines (ms)",
    "binance",
    "",
    (c) => `${c.ts},${ohlcv(c)},${c.ts + 59_999},${(c.close * c.volume).toFixed(8)},17,1.5,2.5,0`,
  ],
  [
    "binance klines (µs)",
    "binance",
    "",
    (c) => `${c.ts * 1000},${ohlcv(c)},${c.ts * 1000 + 59_999_999},123.45678901,17,1.5,2.5,0`,
  ],
  [
    "tradingview export",
    "tradingview",
    "time,open,high,low,close,Volume,EMA,Plot",
    (c) => `${c.ts / 1000},${ohlcv(c)},${c.close},NaN`,
  ],
  [
    "tradingview export without volume",
    "tradingview",
    "time,open,high,low,close",
    (c) => `${c.ts / 1000},${c.open},${c.high},${c.low},${c.close}`,
  ],
  [
    "reordered columns",
    "header",
    "close,volume,time,open,high,low",
    (c) => `${c.close},${c.volume},${c.ts},${c.open},${c.high},${c.low}`,
  ],
];

for (const [what, layoutName, header, row] of FORMATS) {
  Deno.test(`${what}: the fast path gives the careful path's candles`, async () => {
    const text = (header ? header + "\n" : "") + sample.map(row).join("\n") + "\n";
    const { candles, report, layout } = await parse(text);
    assert.equal(layout, layoutName);
    assert.equal(report.badCount, 0, JSON.stringify(report.errors));
    assert.equal(candles.length, sample.length);
    assert.deepEqual(candles, careful(text));
    if (!what.includes("fractions")) {
      const want = sample.map((c) => what.includes("without volume") ? { ...c, volume: 0 } : c);
      assert.deepEqual(candles.map((c) => c.ts), want.map((c) => c.ts));
      assert.deepEqual(candles.map((c) => c.close), want.map((c) => c.close));
    }
  });
}

Deno.test("odd rows of a known layout fall back to the careful path, with line numbers", async () => {
  const { candles, report } = await parse(
    [
      "time,open,high,low,close,Volume,EMA",
      "1704067200,1,2,0.5,1.5,10,1",
      "2024-01-01T00:01:00+01,1,2,0.5,1.5,10,1", // zone without minutes: Date.parse says NaN
      "2024-02-30T00:00:00Z,1,2,0.5,1.5,10,1", // no such day: careful path (Date.parse rolls)
      "1709251260,1e0,2,0.5,1.5,10,1", // exponent: careful path
      "1709251320,1,2,0.5,1.5,10", // a column short
      "1709251380,1,2,0.5,1.5,10,1,9", // a column too many
      "1709251440,1,2,0.5,1.5,10,1",
    ].join("\n"),
  );
  assert.deepEqual(report.errors.map((e) => e.line), [3, 6, 7]);
  assert.match(report.errors[0].reason, /bad ts/);
  assert.match(report.errors[1].reason, /expected 7 fields \(the tradingview layout\), found 6/);
  assert.deepEqual(candles.map((c) => c.ts), [
    1704067200000,
    Date.parse("2024-02-30T00:00:00Z"),
    1709251260000,
    1709251440000,
  ]);
});
