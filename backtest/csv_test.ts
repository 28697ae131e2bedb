import assert from "node:assert/strict";
import { streamCandleCsv } from "./csv.ts";
import type { Candle } from "../exchange/port.ts";

async function parse(text: string) {
  const path = await Deno.makeTempFile({ suffix: ".csv" });
  try {
    await Deno.writeTextFile(path, text);
    const candles: Candle[] = [];
    const report = await streamCandleCsv(path, (c) => candles.push(c));
    return { candles, report };
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("rows in ms, seconds and ISO-8601 are read, with CRLF and no final newline", async () => {
  const { candles, report } = await parse(
    "ts,open,high,low,close,volume\r\n" +
      "1704067200000,1,2,0.5,1.5,10\r\n" +
      "1704067260,1.5,2,1,1.8,0\r\n" +
      "2024-01-01T00:02:00Z,1.8,1.9,1.7,1.75,3",
  );
  assert.deepEqual(report, { rows: 3, good: 3, badCount: 0, errors: [] });
  assert.deepEqual(candles.map((c) => c.ts), [1704067200000, 1704067260000, 1704067320000]);
  assert.deepEqual(candles[2], {
    ts: 1704067320000,
    open: 1.8,
    high: 1.9,
    low: 1.7,
    close: 1.75,
    volume: 3,
  });
});

Deno.test("bad and unsorted rows are reported with their line numbers and skipped", async () => {
  const { candles, report } = await parse(
    [
      "ts,open,high,low,close,volume",
      "1704067200000,1,2,0.5,1.5,10",
      "1704067260000,1,2,0.5,1.5", // 5 fields
      "1704067260000,1,x,0.5,1.5,1", // not a number
      "1704067260000,1,1.2,1.3,1.1,1", // high below low
      "yesterday,1,2,0.5,1.5,1", // bad ts
      "",
      "1704067200000,1,2,0.5,1.5,10", // duplicate of line 2
      "1704067140000,1,2,0.5,1.5,10", // before line 2
      "1704067320000,1,2,0.5,1.5,-1", // negative volume
      "1704067380000,1,2,0.5,1.5,1",
    ].join("\n") + "\n",
  );
  assert.equal(candles.length, 2);
  assert.equal(report.good, 2);
  assert.equal(report.badCount, 7);
  assert.deepEqual(report.errors.map((e) => e.line), [3, 4, 5, 6, 8, 9, 10]);
  assert.match(report.errors[0].reason, /expected 6 fields/);
  assert.match(report.errors[2].reason, /do not contain/);
  assert.match(report.errors[4].reason, /is not after the previous row's/);
});

Deno.test("a line longer than the limit is reported once, not buffered", async () => {
  // 200 kB fits the read buffer; 3 MB spans several reads without a newline.
  for (const length of [200_000, 3_000_000]) {
    const { candles, report } = await parse(
      "1704067200000,1,2,0.5,1.5,10\n" + "9".repeat(length) +
        "\n1704067260000,1,2,0.5,1.5,10\n1704067320000,1,2,0.5,1.5,10",
    );
    assert.equal(candles.length, 3, `length ${length}`);
    assert.equal(report.badCount, 1);
    assert.equal(report.errors[0].line, 2);
    assert.match(report.errors[0].reason, /longer than 8192 bytes/);
  }
});

Deno.test("the fast byte path reads numbers exactly as Number() does", async () => {
  const rows = [
    "1704067200000,42015.81,42048.41,41990.74,42018.76,6.64003",
    "1704067260000,0.000012345,0.0000124,0.0000123,0.00001235,123456789.123456",
    "1704067320000,1e3,1e3,1e3,1e3,0", // exponent: string path
    "1704067380000,0.1234567890123456789,1,0.1,0.5,1", // too many digits: string path
  ];
  const { candles, report } = await parse(rows.join("\n"));
  assert.equal(report.badCount, 0);
  assert.deepEqual(
    candles.map((c) => [c.ts, c.open, c.high, c.low, c.close, c.volume]),
    rows.map((r) => r.split(",").map(Number)),
  );
});

Deno.test("a header that is not a ts column is a bad row", async () => {
  const { report } = await parse("when,o,h,l,c,v\n1704067200000,1,2,0.5,1.5,10\n");
  assert.equal(report.good, 1);
  assert.deepEqual(report.errors.map((e) => e.line), [1]);
});
