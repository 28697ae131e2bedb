/**
 * `backtest` end to end through main(): the shipped sample, bad rows, usage errors, and the
 * candles table as the source.
 */
import assert from "node:assert/strict";
import { main } from "../../../main.ts";
import type { Io } from "../../../cli/common.ts";
import { testDb } from "../../helpers/db.ts";
import { upsertCandles } from "../../../strategy/candles.ts";
import { generateCandles } from "../../../backtest/sample.ts";
import type { Candle } from "../../../exchange/port.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const SAMPLE = new URL("../../../samples/btcusdt_1m_sample.csv", import.meta.url).pathname;

async function cli(args: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    env: { LOG_LEVEL: "error", ...env },
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    isTerminal: false,
  };
  const code = await main(["backtest", ...args], io);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function tempCsv(text: string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".csv" });
  await Deno.writeTextFile(path, text);
  return path;
}

Deno.test("backtest over the shipped sample prints the summary, JSON and the equity curve", async () => {
  const text = await cli(["--csv", SAMPLE]);
  assert.equal(text.code, 0, text.err);
  for (const label of ["trades", "win rate", "pnl", "fees", "max drawdown", "return"]) {
    assert.match(text.out, new RegExp(`^${label} `, "m"));
  }
  const equity = await Deno.makeTempFile({ suffix: ".csv" });
  try {
    const json = await cli(["--csv", SAMPLE, "--json", "--equity-csv", equity]);
    assert.equal(json.code, 0, json.err);
    const r = JSON.parse(json.out);
    assert.equal(r.summary.candles, 5000);
    assert.equal(r.summary.strategy, "ema_rsi");
    assert.equal(r.trades.length, r.summary.trades);
    assert.ok(r.summary.trades > 0);
    assert.equal(r.summary.wins + r.summary.losses, r.summary.trades);
    const net = r.trades.reduce((s: number, t: { pnl: string }) => s + Number(t.pnl), 0);
    assert.ok(Math.abs(net - r.summary.pnlQuote) < 0.01 * r.summary.trades + 0.01);
    assert.deepEqual(r.badRows, { count: 0, first: [] });
    const lines = (await Deno.readTextFile(equity)).trimEnd().split("\n");
    assert.equal(lines.length, 5001);
    assert.equal(lines[0], "ts,equity");
    assert.equal(Number(lines.at(-1)!.split(",")[1]), r.summary.finalQuote);
    // Same input, same parameters: the same result, every time.
    const again = JSON.parse((await cli(["--csv", SAMPLE, "--json"])).out);
    assert.deepEqual(again.summary, r.summary);
  } finally {
    await Deno.remove(equity);
  }
});

Deno.test("bad and unsorted rows are listed with line numbers; the rest is tested", async () => {
  const lines = ["ts,open,high,low,close,volume"];
  generateCandles(
    { count: 300, seed: 3 },
    (c) => lines.push(`${c.ts},${c.open},${c.high},${c.low},${c.close},${c.volume}`),
  );
  lines.splice(10, 0, "oops");
  lines.splice(20, 0, lines[5]);
  const path = await tempCsv(lines.join("\n"));
  try {
    const r = await cli(["--csv", path]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /300 candles/);
    assert.match(
      r.out,
      /2 bad row\(s\) skipped:\n {2}line 11: expected 6 fields.*\n {2}line 21: ts .* is not after/,
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("a file without usable candles fails with exit 1; usage errors exit 2", async () => {
  const path = await tempCsv("ts,open,high,low,close,volume\nnope\n");
  try {
    const r = await cli(["--csv", path]);
    assert.equal(r.code, 1);
    assert.match(r.err, /No usable candles in .* \(1 bad row\(s\)\)/);
  } finally {
    await Deno.remove(path);
  }
  for (
    const args of [
      [],
      ["--csv", SAMPLE, "--symbol", "BTC/USDT"],
      ["--symbol", "BTC/USDT", "--from", "2026-01-01"],
      ["--csv", SAMPLE, "--fee-pct", "lots"],
      ["--csv", SAMPLE, "--bogus"],
      ["--csv", "/nonexistent/file.csv"],
      ["--symbol", "BTC/USDT", "--from", "soon", "--to", "later"],
    ]
  ) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.ok(r.err.length > 0 && !r.err.includes("\n"), r.err);
  }
});

Deno.test({
  name: "backtest reads the candles table for --symbol --from --to",
  ...serviceTest,
  async fn() {
    const t = await testDb({ onDisk: true });
    try {
      const candles: Candle[] = [];
      generateCandles(
        { count: 3_000, seed: 9, startTs: Date.UTC(2026, 0, 1) },
        (c) => candles.push(c),
      );
      const series = { exchangeId: "binance", symbol: "BTC/USDT", timeframe: "1m" };
      for (let i = 0; i < candles.length; i += 500) {
        await upsertCandles(t.db, series, candles.slice(i, i + 500));
      }
      await t.db.close();
      const env: Record<string, string> = t.url
        ? { DATABASE_URL: t.url }
        : { DATA_DIR: t.dataDir! };
      const r = await cli([
        "--symbol",
        "BTC/USDT",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-02T00:00:00Z",
        "--json",
      ], env);
      assert.equal(r.code, 0, r.err);
      const out = JSON.parse(r.out);
      // 3,000 one-minute candles from midnight: the first day holds 1,440 of them.
      assert.equal(out.summary.candles, 1440);
      assert.equal(out.summary.firstTs, Date.UTC(2026, 0, 1));
      // The same candles from a CSV give the same result.
      const csv = await tempCsv(
        candles.slice(0, 1440).map((c) =>
          `${c.ts},${c.open},${c.high},${c.low},${c.close},${c.volume}`
        ).join("\n"),
      );
      try {
        const fromCsv = JSON.parse((await cli(["--csv", csv, "--json"])).out);
        assert.deepEqual(fromCsv.summary, out.summary);
      } finally {
        await Deno.remove(csv);
      }
      const unknown = await cli([
        "--symbol",
        "BTC/USDT",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-02",
        "--strategy",
        "nope",
      ], env);
      assert.equal(unknown.code, 2);
      assert.match(unknown.err, /Strategy "nope" is not in the strategies table/);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "backtest --symbol with --to in the future leaves out the candle still forming",
  ...serviceTest,
  async fn() {
    const t = await testDb({ onDisk: true });
    try {
      // Stored as ingestion leaves them: the last one is the minute now under way.
      const forming = Math.floor(Date.now() / 60_000) * 60_000;
      const candles: Candle[] = [];
      generateCandles(
        { count: 300, seed: 5, startTs: forming - 299 * 60_000 },
        (c) => candles.push(c),
      );
      const series = { exchangeId: "binance", symbol: "BTC/USDT", timeframe: "1m" };
      await upsertCandles(t.db, series, candles);
      await t.db.close();
      const env: Record<string, string> = t.url
        ? { DATABASE_URL: t.url }
        : { DATA_DIR: t.dataDir! };
      const tomorrow = new Date(forming + 86_400_000).toISOString().slice(0, 10);
      const r = await cli(
        ["--symbol", "BTC/USDT", "--from", "2020-01-01", "--to", tomorrow, "--json"],
        env,
      );
      const after = Date.now();
      assert.equal(r.code, 0, r.err);
      const s = JSON.parse(r.out).summary;
      // Every candle in the run had closed when it ran; the closed ones are all there.
      assert.ok(s.lastTs + 60_000 <= after, `last candle ${s.lastTs} still forming at ${after}`);
      assert.ok(s.lastTs >= forming - 60_000, `${s.lastTs}`);
      assert.equal(s.firstTs, candles[0].ts);
    } finally {
      await t.close();
    }
  },
});

Deno.test("backtest --html writes a page whose numbers are the --json summary's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pgsl-bt-html-" });
  try {
    const html = `${dir}/bt.html`;
    const run = await cli(["--csv", SAMPLE, "--html", html, "--slippage-bps", "5", "--json"]);
    assert.equal(run.code, 0, run.err);
    const s = JSON.parse(run.out).summary;
    const page = await Deno.readTextFile(html);
    const metric = (k: string) => new RegExp(`data-metric="${k}">([^<]*)<`).exec(page)?.[1];
    const f = (n: number, d = 2) =>
      n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
    assert.equal(metric("trades"), String(s.trades));
    assert.equal(metric("endEquity"), `${f(s.finalQuote)} USDT`);
    assert.equal(metric("returnPct"), `${f(s.returnPct)} %`);
    assert.equal(metric("realizedPnl"), `${f(s.pnlQuote)} USDT`);
    assert.equal(metric("winRatePct"), `${f(s.winRatePct)} %`);
    assert.equal(metric("maxDrawdownPct"), `${f(s.maxDrawdownPct)} %`);
    assert.equal(metric("profitFactor"), f(s.profitFactor));
    assert.equal(metric("exposurePct"), `${f(s.exposurePct)} %`);
    assert.equal(metric("sharpe"), f(s.sharpe, 3));
    assert.equal(metric("sortino"), f(s.sortino, 3));
    assert.equal(metric("expectancyQuote"), `${f(s.expectancyQuote)} USDT`);
    assert.equal(s.slippageBps, 5);
    assert.doesNotMatch(page, /<script|https?:\/\//i);
    // Slippage only ever costs: the same run without it ends higher.
    const plain = JSON.parse((await cli(["--csv", SAMPLE, "--json"])).out).summary;
    assert.ok(plain.finalQuote > s.finalQuote, `${plain.finalQuote} vs ${s.finalQuote}`);
    const bad = await cli(["--csv", SAMPLE, "--slippage-bps", "-1"]);
    assert.equal(bad.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "backtest --symbols runs several stored series on one balance",
  ...serviceTest,
  async fn() {
    const t = await testDb({ onDisk: true });
    try {
      for (const [symbol, seed] of [["BTC/USDT", 9], ["ETH/USDT", 21]] as const) {
        const candles: Candle[] = [];
        generateCandles(
          { count: 3_000, seed, startTs: Date.UTC(2026, 0, 1) },
          (c) => candles.push(c),
        );
        const series = { exchangeId: "binance", symbol, timeframe: "1m" };
        for (let i = 0; i < candles.length; i += 500) {
          await upsertCandles(t.db, series, candles.slice(i, i + 500));
        }
      }
      await t.db.close();
      const env: Record<string, string> = t.url
        ? { DATABASE_URL: t.url }
        : { DATA_DIR: t.dataDir! };
      const range = ["--from", "2026-01-01", "--to", "2026-01-02T00:00:00Z"];
      const run = (symbols: string) => cli(["--symbols", symbols, ...range, "--json"], env);
      const r = await run("BTC/USDT,ETH/USDT");
      assert.equal(r.code, 0, r.err);
      const out = JSON.parse(r.out);
      assert.equal(out.summary.candles, 2 * 1440);
      const symbols = new Set(out.trades.map((x: { symbol?: string }) => x.symbol));
      assert.equal(out.summary.trades, out.trades.length);
      const pnl = out.trades.reduce((a: number, x: { pnl: string }) => a + Number(x.pnl), 0);
      assert.ok(
        Math.abs(out.summary.finalQuote - (out.summary.initialQuote + pnl)) <
          0.05 * out.trades.length + 0.01,
        "the shared balance ends at the start plus every trade's PnL",
      );
      assert.ok(out.trades.length > 0);
      assert.ok(
        [...symbols].every((x) => x === "BTC/USDT" || x === "ETH/USDT"),
        [...symbols].join(),
      );
      const single = JSON.parse((await cli(["--symbol", "BTC/USDT", ...range, "--json"], env)).out);
      assert.notDeepEqual(out.summary, single.summary, "two series are not one");

      assert.equal((await run("BTC/USDT")).code, 2, "one symbol is not a portfolio");
      const missing = await run("BTC/USDT,XRP/USDT");
      assert.equal(missing.code, 1);
      assert.match(missing.err, /No candles of XRP\/USDT.*candles download/);
    } finally {
      await t.close();
    }
  },
});

// A buy at the close of the sixth candle with these parameters (see backtest/engine_test.ts):
// 50 units at 10, stop 9.8; then up to 10.6 and down.
const SMALL = {
  EMA_FAST: "2",
  EMA_SLOW: "3",
  RSI_PERIOD: "2",
  RSI_OVERBOUGHT: "90",
  RSI_OVERSOLD: "10",
  STOP_PCT: "2",
  TAKE_PROFIT_PCT: "50",
  CONFIDENCE_MIN: "0.1",
  RISK_PER_TRADE_PCT: "1",
  PAPER_BALANCE: "1000",
};
const T0 = Date.UTC(2024, 0, 1);
const RISE_THEN_FALL = [
  ...[10, 9, 8, 7, 8, 10].map((p) => [p, p, p, p]),
  [10, 10.2, 9.9, 10.2],
  [10.2, 10.6, 10.0, 10.5],
  [10.5, 10.55, 10.4, 10.45],
  [10.45, 10.45, 10.3, 10.3],
  [10.3, 10.7, 9.9, 10],
].map(([o, h, l, c], i) => `${T0 + i * 60_000},${o},${h},${l},${c},1`).join("\n");

Deno.test("backtest --trail-pct and --tp-ladder exit by the live rules", async () => {
  const path = await tempCsv(RISE_THEN_FALL);
  const run = async (...flags: string[]) => {
    const r = await cli(["--csv", path, "--step", "0.001", "--json", ...flags], SMALL);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out);
  };
  const iso = (i: number) => new Date(T0 + i * 60_000).toISOString();
  try {
    const fixed = await run();
    assert.deepEqual(fixed.trades.map((t: { exit_reason: string }) => t.exit_reason), ["end"]);
    assert.equal(fixed.exits, undefined);
    // The stop trails 2 % under 10.6 from candle 8 on and is taken at candle 9: 10.388.
    const trailed = await run("--trail-pct", "2", "--trail-step-pct", "0.5");
    assert.equal(trailed.trades.length, 1);
    assert.deepEqual(
      [trailed.trades[0].exit_reason, trailed.trades[0].exit, trailed.trades[0].exit_ts],
      ["stop", 10.39, iso(9)],
    );
    assert.deepEqual(trailed.exits, { trailPct: 2, trailStepPct: 0.5 });
    // Never activated: the high 10.7 stays under +10 %.
    const waiting = await run("--trail-pct", "2", "--trail-activation-pct", "10");
    assert.equal(waiting.trades[0].exit_reason, "end");
    // Half at 10.2 (candle 6), then break even 10.02 from candle 7, whose low 10.0 takes it.
    const laddered = await run("--tp-ladder", "2:50,4:50");
    assert.equal(laddered.exits.ladder, "2:50,4:50");
    assert.deepEqual([laddered.summary.trades, laddered.summary.exitFills], [1, 2]);
    const [t] = laddered.trades;
    assert.equal(t.exit_reason, "stop");
    assert.deepEqual(
      t.exits.map((e: { ts: string; qty: number; reason: string }) => [e.ts, e.qty, e.reason]),
      [[iso(6), 25, "target"], [iso(7), 25, "stop"]],
    );
    assert.equal(t.exits[0].price, 10.2);
    assert.ok(Math.abs(t.exits[1].price - 10 * 1.001 / 0.999) < 1e-9, String(t.exits[1].price));
    const text = await cli(
      ["--csv", path, "--step", "0.001", "--tp-ladder", "2:50,4:50", "--trades"],
      SMALL,
    );
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /stop \(2 sells\)/);
    assert.match(text.out, /^trades +1 \(1 won, 0 lost\), closed in 2 sells$/m);
    assert.match(text.out, /^exits +ladder 2:50,4:50, then break even$/m);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("bad exit flags are usage errors (exit 2) with the live rules' messages", async () => {
  for (
    const [flags, re] of [
      [
        ["--trail-pct", "0"],
        /--trail-pct "0" is out of range; give a number above 0 and below 100/,
      ],
      [["--trail-pct", "100"], /--trail-pct "100" is out of range/],
      [["--trail-pct", "two"], /--trail-pct "two" is out of range/],
      [
        ["--trail-pct", "2", "--trail-activation-pct=-1"],
        /--trail-activation-pct "-1".*from 0 up/,
      ],
      [["--trail-activation-pct", "1"], /--trail-activation-pct needs --trail-pct N/],
      [["--trail-step-pct", "1"], /--trail-step-pct needs --trail-pct N/],
      [["--trail-pct", "2", "--trail-step-pct", "60"], /--trail-step-pct "60".*from 0 to 50/],
      [["--tp-ladder", "4:50,8:40"], /--tp-ladder: the ladder's shares add up to 90 %, not 100 %/],
      [["--tp-ladder", "8:50,4:50"], /--tp-ladder: ladder levels must rise: 4 % after 8 %/],
      [["--tp-ladder", "4-50"], /--tp-ladder: ladder level "4-50" is not PCT:SHARE/],
      [["--min-notional", "10"], /--min-notional goes with --tp-ladder/],
      [["--tp-ladder", "4:100", "--min-qty", "0"], /--min-qty "0" is out of range/],
      [["--sweep", "trail_pct=0|2"], /--sweep trail_pct takes numbers above 0 and below 100/],
      [["--sweep", "trail_activation_pct=0|1"], /needs trail_pct in the grid or --trail-pct N/],
    ] as const
  ) {
    const r = await cli(["--csv", SAMPLE, ...flags]);
    assert.equal(r.code, 2, `${flags.join(" ")}: ${r.err}`);
    assert.match(r.err, re);
  }
});

Deno.test({
  name: "backtest --strategy takes the row's trail and ladder; a flag wins over them",
  ...serviceTest,
  async fn() {
    const t = await testDb({ onDisk: true });
    const path = await tempCsv(RISE_THEN_FALL);
    try {
      await t.db.close();
      const env = { ...SMALL, ...(t.url ? { DATABASE_URL: t.url } : { DATA_DIR: t.dataDir! }) };
      const add = await main(
        [
          "strategies",
          "add",
          "swing",
          "--take-profit-pct",
          "50",
          "--confidence-min",
          "0.1",
          "--trail-pct",
          "2",
          "--tp-ladder",
          "2:50,4:50",
        ],
        { env: { LOG_LEVEL: "error", ...env }, out: () => {}, err: () => {}, isTerminal: false },
      );
      assert.equal(add, 0);
      const run = async (...flags: string[]) => {
        const r = await cli(
          ["--csv", path, "--step", "0.001", "--strategy", "swing", "--json", ...flags],
          { ...env, TRAIL_STEP_PCT: "0.25" },
        );
        assert.equal(r.code, 0, r.err);
        return JSON.parse(r.out);
      };
      const stored = await run();
      assert.deepEqual(stored.exits, {
        trailPct: 2,
        trailActivationPct: 0,
        trailStepPct: 0.25,
        ladder: "2:50,4:50",
      });
      assert.equal(stored.summary.exitFills, 2);
      const flagged = await run("--trail-pct", "3", "--tp-ladder", "4:100");
      assert.deepEqual([flagged.exits.trailPct, flagged.exits.ladder], [3, "4:100"]);
      // Without --strategy a CSV backtest reads no row: the fixed stop and target.
      const plain = await cli(["--csv", path, "--step", "0.001", "--json"], env);
      assert.equal(JSON.parse(plain.out).exits, undefined);
    } finally {
      await Deno.remove(path);
      await t.close();
    }
  },
});
