/**
 * Backtest throughput: 1,051,200 one-minute candles (two years) through the live indicator,
 * strategy, sizing and paper-fill code. Three measurements, each the median of 3 runs:
 *   engine    candles already in memory; again with a trailing stop (1 %) and a take-profit
 *             ladder (2:50,4:50), the live exit rules
 *   csv       per candle format (ISO-8601 with ms and Z, ISO-8601 with an offset, epoch ms,
 *             epoch s, Binance's 12-column klines, TradingView's export): streaming parse of a
 *             1,051,200-row CSV + engine, in this process
 *   cli       `main.ts backtest --csv FILE --json` in a fresh process (Deno start-up included),
 *             per format: the whole-process figure the targets are about
 *   db        with TEST_DATABASE_URL set: the `--symbol` path, candles read from a throwaway
 *             PostgreSQL database in pages of 10,000 + engine (one run; the load is timed too)
 * Run: [TEST_DATABASE_URL=postgres://…] deno run -A bench/backtest.ts [--candles N] [--formats iso-ms-z,epoch-ms,…]
 */
import { parseArgs } from "node:util";
import { createBacktest } from "../backtest/engine.ts";
import { streamCandleCsv } from "../backtest/csv.ts";
import { candleCsvLine, generateCandles } from "../backtest/sample.ts";
import { paramsFromConfig } from "../strategy/params.ts";
import { loadConfig } from "../core/config.ts";
import { parseLadder } from "../trading/ladder.ts";
import type { ExitRules } from "../backtest/engine.ts";
import type { Candle } from "../exchange/port.ts";
import { candlesBetween, upsertCandles } from "../strategy/candles.ts";
import { limits } from "../core/limits.ts";
import { serverUrl, testDb } from "../tests/helpers/db.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { candles: { type: "string" }, formats: { type: "string" } },
});
const N = Number(values.candles ?? 1_051_200);
const params = paramsFromConfig(loadConfig({}));
const newBacktest = (exits?: ExitRules) =>
  createBacktest({ params, initialQuote: 10_000, feeRate: 0.001, stepSize: 0.00001, exits });
const EXITS: ExitRules = { trailPct: 1, ladder: parseLadder("2:50,4:50") };

const t = performance.now();
const candles: Candle[] = [];
generateCandles({ count: N, seed: 1 }, (c) => candles.push(c));
const generateMs = performance.now() - t;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function engineOnce(exits?: ExitRules) {
  const t0 = performance.now();
  const bt = newBacktest(exits);
  for (let i = 0; i < candles.length; i++) bt.feed(candles[i]);
  const r = bt.finish();
  return { ms: performance.now() - t0, summary: r.summary };
}

/** One row per format, from the same candles, so every format must give the same trades. */
const FORMATS: Record<string, { header?: string; row: (c: Candle) => string }> = {
  "iso-ms-z": { header: "ts,open,high,low,close,volume", row: (c) => candleCsvLine(c, "iso") },
  "iso-offset": {
    header: "time,open,high,low,close,volume",
    row: (c) => `${new Date(c.ts).toISOString().slice(0, 19)}+00:00,${ohlcv(c)}`,
  },
  "epoch-ms": { header: "ts,open,high,low,close,volume", row: (c) => candleCsvLine(c, "ms") },
  "epoch-s": { row: (c) => `${c.ts / 1000},${ohlcv(c)}` },
  binance: {
    row: (c) =>
      `${c.ts},${ohlcv(c)},${c.ts + 59_999},${(c.close * c.volume).toFixed(8)},42,` +
      `${(c.volume / 2).toFixed(8)},${(c.close * c.volume / 2).toFixed(8)},0`,
  },
  tradingview: {
    header: "time,open,high,low,close,Volume,EMA,RSI",
    row: (c) => `${c.ts / 1000},${ohlcv(c)},${c.close.toFixed(2)},50.5`,
  },
};
const ohlcv = (c: Candle) => `${c.open},${c.high},${c.low},${c.close},${c.volume}`;
const chosen = values.formats ? values.formats.split(",") : Object.keys(FORMATS);

async function writeCsv(path: string, f: (typeof FORMATS)[string]) {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  let buf: string[] = f.header ? [f.header] : [];
  for (const c of candles) {
    buf.push(f.row(c));
    if (buf.length === 50_000) {
      await file.write(enc.encode(buf.join("\n") + "\n"));
      buf = [];
    }
  }
  await file.write(enc.encode(buf.join("\n") + "\n"));
}

const dir = await Deno.makeTempDir({ prefix: "pgsl-bench-" });
const main = new URL("../main.ts", import.meta.url).pathname;
try {
  engineOnce(); // warm-up: JIT
  const engineRuns = [engineOnce(), engineOnce(), engineOnce()];
  const summary = engineRuns[0].summary;
  engineOnce(EXITS);
  const exitRuns = [engineOnce(EXITS), engineOnce(EXITS), engineOnce(EXITS)];

  const perFormat: { format: string; bytes: number; csvMs: number; cliMs: number[] }[] = [];
  for (const name of chosen) {
    const csvPath = `${dir}/${name}.csv`;
    await writeCsv(csvPath, FORMATS[name]);
    const csvRuns: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const bt = newBacktest();
      const report = await streamCandleCsv(csvPath, bt.feed);
      const r = bt.finish();
      csvRuns.push(performance.now() - t0);
      if (report.good !== N || r.summary.trades !== summary.trades) {
        throw new Error(
          `${name}: CSV run differs: ${report.good} rows, ${r.summary.trades} trades`,
        );
      }
    }
    const cliRuns: number[] = [];
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
      if (r.summary.trades !== summary.trades) throw new Error(`${name}: CLI run differs`);
    }
    const bytes = (await Deno.stat(csvPath)).size;
    await Deno.remove(csvPath);
    perFormat.push({ format: name, bytes, csvMs: median(csvRuns), cliMs: cliRuns });
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
  const perS = (ms: number) => Math.round(N / ms * 1000);
  console.log(
    `Backtest over ${N.toLocaleString("en")} one-minute candles ` +
      `(EMA ${params.emaFast}/${params.emaSlow}, RSI ${params.rsiPeriod}; ${summary.trades} trades)`,
  );
  console.log(`generate ${generateMs.toFixed(0)} ms`);
  if (dbLoadMs !== undefined) console.log(`load into PostgreSQL ${dbLoadMs.toFixed(0)} ms`);
  console.log(
    `engine (in memory) ${engineMs.toFixed(0)} ms, ${
      perS(engineMs).toLocaleString("en")
    } candles/s`,
  );
  const exitsMs = median(exitRuns.map((r) => r.ms));
  console.log(
    `engine with trail 1 % + ladder 2:50,4:50 ${exitsMs.toFixed(0)} ms, ${
      perS(exitsMs).toLocaleString("en")
    } candles/s (${exitRuns[0].summary.trades} trades, ${exitRuns[0].summary.exitFills} sells)`,
  );
  if (dbMs !== undefined) console.log(`postgres pages + engine ${dbMs.toFixed(0)} ms`);
  console.log(
    "format         MB   parse+engine ms   candles/s   cli process ms (3 runs)  candles/s",
  );
  for (const f of perFormat) {
    const cli = median(f.cliMs);
    console.log(
      `${f.format.padEnd(12)} ${(f.bytes / 1e6).toFixed(0).padStart(4)} ${
        f.csvMs.toFixed(0).padStart(17)
      } ${perS(f.csvMs).toLocaleString("en").padStart(11)}   ${
        f.cliMs.map((x) => x.toFixed(0)).join(" / ").padStart(22)
      } ${perS(cli).toLocaleString("en").padStart(10)}`,
    );
  }
  console.log(JSON.stringify({
    bench: "backtest",
    candles: N,
    trades: summary.trades,
    engineMs: Math.round(engineMs),
    engineCandlesPerS: perS(engineMs),
    engineExitsMs: Math.round(exitsMs),
    formats: perFormat.map((f) => ({
      format: f.format,
      bytes: f.bytes,
      csvMs: Math.round(f.csvMs),
      csvCandlesPerS: perS(f.csvMs),
      cliMs: Math.round(median(f.cliMs)),
      cliRunsMs: f.cliMs.map(Math.round),
      cliCandlesPerS: perS(median(f.cliMs)),
    })),
    dbMs: dbMs === undefined ? null : Math.round(dbMs),
    dbLoadMs: dbLoadMs === undefined ? null : Math.round(dbLoadMs),
    targetMs: { "iso-ms-z": 1000, "epoch-ms": 700 },
    deno: Deno.version.deno,
  }));
} finally {
  await Deno.remove(dir, { recursive: true });
}
