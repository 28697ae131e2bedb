/**
 * Backtest throughput: 1,051,200 one-minute candles (two years) through the live indicator,
 * strategy, sizing and paper-fill code. Three measurements, each the median of 3 runs:
 *   engine    candles already in memory
 *   csv       streaming parse of a 1,051,200-row CSV (epoch ms) + engine: the whole run
 *   cli       `main.ts backtest --csv FILE --json` in a fresh process (Deno start-up included)
 *   db        with TEST_DATABASE_URL set: the `--symbol` path, candles read from a throwaway
 *             PostgreSQL database in pages of 10,000 + engine (one run; the load is timed too)
 * Run: [TEST_DATABASE_URL=postgres://…] deno run -A bench/backtest.ts [--candles N]
 */
import { parseArgs } from "node:util";
import { createBacktest } from "../backtest/engine.ts";
import { streamCandleCsv } from "../backtest/csv.ts";
import { candleCsvLine, generateCandles } from "../backtest/sample.ts";
import { paramsFromConfig } from "../strategy/params.ts";
import { loadConfig } from "../core/config.ts";
import type { Candle } from "../exchange/port.ts";
import { candlesBetween, upsertCandles } from "../strategy/candles.ts";
import { limits } from "../core/limits.ts";
import { serverUrl, testDb } from "../tests/helpers/db.ts";

const { values } = parseArgs({ args: Deno.args, options: { candles: { type: "string" } } });
const N = Number(values.candles ?? 1_051_200);
const params = paramsFromConfig(loadConfig({}));
const newBacktest = () =>
  createBacktest({ params, initialQuote: 10_000, feeRate: 0.001, stepSize: 0.00001 });

let t = performance.now();
const candles: Candle[] = [];
generateCandles({ count: N, seed: 1 }, (c) => candles.push(c));
const generateMs = performance.now() - t;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function engineOnce() {
  const t0 = performance.now();
  const bt = newBacktest();
  for (let i = 0; i < candles.length; i++) bt.feed(candles[i]);
  const r = bt.finish();
  return { ms: performance.now() - t0, summary: r.summary };
}

const dir = await Deno.makeTempDir({ prefix: "pgsl-bench-" });
const csvPath = `${dir}/candles.csv`;
try {
  t = performance.now();
  {
    using file = await Deno.open(csvPath, { write: true, create: true, truncate: true });
    const enc = new TextEncoder();
    let buf: string[] = ["ts,open,high,low,close,volume"];
    for (const c of candles) {
      buf.push(candleCsvLine(c, "ms"));
      if (buf.length === 50_000) {
        await file.write(enc.encode(buf.join("\n") + "\n"));
        buf = [];
      }
    }
    await file.write(enc.encode(buf.join("\n") + "\n"));
  }
  const writeMs = performance.now() - t;
  const csvBytes = (await Deno.stat(csvPath)).size;

  engineOnce(); // warm-up: JIT
  const engineRuns = [engineOnce(), engineOnce(), engineOnce()];
  const summary = engineRuns[0].summary;

  const csvRuns: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const bt = newBacktest();
    const report = await streamCandleCsv(csvPath, bt.feed);
    const r = bt.finish();
    csvRuns.push(performance.now() - t0);
    if (report.good !== N || r.summary.trades !== summary.trades) {
      throw new Error(`CSV run differs: ${report.good} rows, ${r.summary.trades} trades`);
    }
  }

  const cliRuns: number[] = [];
  const main = new URL("../main.ts", import.meta.url).pathname;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "backtest", "--csv", csvPath, "--json", "--step", "0.00001"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    cliRuns.push(performance.now() - t0);
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    if (r.summary.trades !== summary.trades) throw new Error("CLI run differs from the engine");
  }

  let dbMs: number | undefined, dbLoadMs: number | undefined;
  if (serverUrl()) {
    const t = await testDb();
    try {
      const series = { exchangeId: "bench", symbol: "BTC/USDT", timeframe: "1m" };
      let t0 = performance.now();
      for (let i = 0; i < candles.length; i += 1_000) {
        await upsertCandles(t.db, series, candles.slice(i, i + 1_000));
      }
      dbLoadMs = performance.now() - t0;
      t0 = performance.now();
      const bt = newBacktest();
      let from = candles[0].ts;
      const to = candles[candles.length - 1].ts + 1;
      for (;;) {
        const page = await candlesBetween(t.db, series, from, to, limits.backtestDbPageCandles);
        for (const c of page) bt.feed(c);
        if (page.length < limits.backtestDbPageCandles) break;
        from = page[page.length - 1].ts + 1;
      }
      const r = bt.finish();
      dbMs = performance.now() - t0;
      if (r.summary.trades !== summary.trades) throw new Error("DB run differs from the engine");
    } finally {
      await t.close();
    }
  }

  const engineMs = median(engineRuns.map((r) => r.ms));
  const csvMs = median(csvRuns);
  const cliMs = median(cliRuns);
  const rows: [string, number][] = [
    ["engine (in memory)", engineMs],
    ["csv parse + engine", csvMs],
    ["cli process, csv", cliMs],
  ];
  if (dbMs !== undefined) rows.push(["postgres pages + engine", dbMs]);
  console.log(
    `Backtest over ${N.toLocaleString("en")} one-minute candles ` +
      `(EMA ${params.emaFast}/${params.emaSlow}, RSI ${params.rsiPeriod}; ${summary.trades} trades)`,
  );
  console.log(
    `generate ${generateMs.toFixed(0)} ms, write CSV ${writeMs.toFixed(0)} ms ` +
      `(${(csvBytes / 1e6).toFixed(1)} MB)`,
  );
  if (dbLoadMs !== undefined) console.log(`load into PostgreSQL ${dbLoadMs.toFixed(0)} ms`);
  console.log("measure                   wall ms    candles/s");
  for (const [name, ms] of rows) {
    console.log(
      `${name.padEnd(24)} ${ms.toFixed(0).padStart(8)} ${
        Math.round(N / ms * 1000).toLocaleString("en").padStart(12)
      }`,
    );
  }
  console.log(JSON.stringify({
    bench: "backtest",
    candles: N,
    trades: summary.trades,
    csvBytes,
    engineMs: Math.round(engineMs),
    engineCandlesPerS: Math.round(N / engineMs * 1000),
    csvMs: Math.round(csvMs),
    csvCandlesPerS: Math.round(N / csvMs * 1000),
    cliMs: Math.round(cliMs),
    dbMs: dbMs === undefined ? null : Math.round(dbMs),
    dbLoadMs: dbLoadMs === undefined ? null : Math.round(dbLoadMs),
    targetMs: 1000,
    deno: Deno.version.deno,
  }));
} finally {
  await Deno.remove(dir, { recursive: true });
}
