// Longer than ~300 lines: one command with its sources, outputs and the sweep's flags.
import { loadStrategy, paramsFromConfig } from "../strategy/mod.ts";
import type { StrategyParams } from "../strategy/mod.ts";
import {
  backtestPage,
  type BacktestSummary,
  createBacktest,
  createPortfolioBacktest,
  type Trade,
} from "../backtest/mod.ts";
import type { Candle } from "../exchange/mod.ts";
import { type CsvReport, streamCandleCsv } from "../backtest/mod.ts";
import { candlesBetween, type Series, timeframeMs } from "../strategy/mod.ts";
import type { Config } from "../core/config.ts";
import { errorMessage, RuntimeError, UsageError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Db } from "../db/mod.ts";
import { type Command, configure, type Io, parse, parseDateFlag, table, withDb } from "./common.ts";
import { sweepCommand, sweepFlags, sweepGrid } from "./backtest_sweep.ts";
import {
  EXIT_FLAGS,
  EXIT_HELP,
  exitFlags,
  exitRulesText,
  exitsJson,
  withStoredExits,
} from "./backtest_exits.ts";
import { readStrategyRow } from "../signals/mod.ts";
import type { ExitRules } from "../backtest/mod.ts";

const HELP = `Usage: pg-solo-lite backtest --csv FILE [options]
       pg-solo-lite backtest --symbol S --from DATE --to DATE [options]
       pg-solo-lite backtest --symbols A,B --from DATE --to DATE [options]

Runs the strategy over historical candles with the same indicator, rule, sizing and paper-fill
code as live trading, and prints trades, win rate, PnL, fees, max drawdown and return.

Sources (one of):
  --csv FILE          ts,open,high,low,close,volume rows (header optional; ts in epoch s, ms
                      or µs, or ISO-8601), Binance's 12-column kline CSV or TradingView's
                      export (time,open,high,low,close,Volume,…), detected from the first rows
                      and streamed; bad or unsorted rows are skipped and reported with their
                      line numbers
  --symbols A,B       several symbols' stored candles on one shared balance, in time order:
                      each entry is sized from the cash left; a table per symbol follows
  --symbol S          candles stored by the ingestion agent (EXCHANGE_ID, TIMEFRAME), with
  --from DATE --to DATE   YYYY-MM-DD (--to inclusive) or ISO-8601 times (--to exclusive)

Options:
  --strategy NAME     parameters of this row of the strategies table (default STRATEGY_NAME,
                      with the EMA_*, RSI_*, STOP_PCT, TAKE_PROFIT_PCT, CONFIDENCE_MIN settings
                      when it has no row)
  --balance N         starting cash in the quote asset (default PAPER_BALANCE)
  --fee-pct N         taker fee per fill in percent (default 0.1)
  --step N            quantity step for sizing, e.g. 0.00001 (default none)
  --slippage-bps N    slippage against the trader on every fill, in basis points (default 0):
                      buys fill N bps above the price, sells (signal, stop, target) below it
  --trades            list every trade
  --json              one JSON object (summary, trades, bad rows) instead of text
  --equity-csv FILE   write the equity curve (ts,equity after every candle) to FILE
  --html FILE         write a self-contained report page of the backtest to FILE (equity and
                      drawdown charts, metrics with Sharpe, Sortino, profit factor, expectancy,
                      exposure, and the trades): the same numbers as the text and --json

${EXIT_HELP}

Sweeps (with --csv):
  --sweep GRID        every combination of GRID, on all cores, e.g.
                      "ema_fast=8..16:2,ema_slow=20..40:5,stop_pct=1..3:0.5" (from..to:step,
                      or v1|v2|v3); names: ema_fast, ema_slow, rsi_period, rsi_overbought,
                      rsi_oversold, stop_pct, take_profit_pct, confidence_min, risk_pct,
                      trail_pct, trail_activation_pct
  --rank METRIC       return (default), sharpe, profit_factor or max_dd
  --split F           rank on the first F of the candles (e.g. 0.7) and show the same
                      combinations on the rest (out-of-sample), side by side

Examples:
  pg-solo-lite backtest --csv samples/btcusdt_1m_sample.csv
  pg-solo-lite backtest --symbol BTC/USDT --from 2026-01-01 --to 2026-01-31 --json
  pg-solo-lite backtest --csv candles.csv --trail-pct 2 --trail-activation-pct 1 --tp-ladder "4:50,8:50"
  pg-solo-lite backtest --csv candles.csv --sweep "ema_fast=8..16:2,ema_slow=20..40:5" --split 0.7`;

const positive = (name: string, v: string | undefined, fallback: number): number => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${name} must be a number ≥ 0, got "${v}"`);
  }
  return n;
};

/**
 * The strategy's parameters and exits: a stored row's trail and ladder unless the flags give
 * them (the CSV path without --strategy reads no row), the step from TRAIL_STEP_PCT.
 */
async function resolveParams(
  db: Db | undefined,
  config: Config,
  name: string | undefined,
  flags: ExitRules | undefined,
): Promise<{ params: StrategyParams; exits?: ExitRules }> {
  const stepPct = config.risk.trailStepPct;
  if (!db) {
    return { params: paramsFromConfig(config), exits: withStoredExits(flags, undefined, stepPct) };
  }
  const resolved = await loadStrategy(db, config, name ?? config.strategy.name);
  if (name && name !== config.strategy.name && resolved.source === "config") {
    throw new UsageError(
      `Strategy "${name}" is not in the strategies table; add it (pg-solo-lite strategies add ` +
        `${name}) or omit --strategy`,
    );
  }
  const row = resolved.source === "config"
    ? undefined
    : await readStrategyRow(db, resolved.params.name);
  return { params: resolved.params, exits: withStoredExits(flags, row, stepPct) };
}

const command: Command = {
  name: "backtest",
  help: HELP,
  async run(args, io) {
    const { values: v } = parse("backtest", args, {
      csv: { type: "string" },
      symbol: { type: "string" },
      symbols: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      strategy: { type: "string" },
      balance: { type: "string" },
      "fee-pct": { type: "string" },
      step: { type: "string" },
      trades: { type: "boolean" },
      json: { type: "boolean" },
      "equity-csv": { type: "string" },
      html: { type: "string" },
      "slippage-bps": { type: "string" },
      sweep: { type: "string" },
      rank: { type: "string" },
      split: { type: "string" },
      ...EXIT_FLAGS,
    }, { max: 0 });
    if ([v.csv, v.symbol, v.symbols].filter(Boolean).length !== 1) {
      throw new UsageError(
        "Give one of --csv FILE, --symbol S or --symbols A,B (with --from DATE --to DATE)",
      );
    }
    if ((v.symbol || v.symbols) && (!v.from || !v.to)) {
      throw new UsageError(
        `--${v.symbol ? "symbol" : "symbols"} needs --from and --to (YYYY-MM-DD)`,
      );
    }
    const symbols = v.symbols?.split(",").map((x) => x.trim()).filter(Boolean);
    if (symbols && (symbols.length < 2 || new Set(symbols).size !== symbols.length)) {
      throw new UsageError(`--symbols needs two or more different symbols, e.g. BTC/USDT,ETH/USDT`);
    }
    if (symbols && (v.sweep || v.html || v["equity-csv"])) {
      throw new UsageError("--symbols does not combine with --sweep, --html or --equity-csv yet");
    }
    // Every flag is checked before a database is opened, so a typo costs nothing.
    const opts: RunOptions = {
      feeRate: positive("fee-pct", v["fee-pct"], 0.1) / 100,
      balance: positive("balance", v.balance, NaN),
      stepSize: positive("step", v.step, 0) || undefined,
      equityCsv: v["equity-csv"],
      html: v.html,
      slippageBps: positive("slippage-bps", v["slippage-bps"], 0),
      csv: v.csv,
      symbol: v.symbol,
      fromMs: v.from ? parseDateFlag("from", v.from, false) : undefined,
      toMs: v.to ? parseDateFlag("to", v.to, true) : undefined,
    };
    const sweep = sweepFlags(v);
    opts.exits = exitFlags(v, sweep ? sweepGrid(sweep).map(([name]) => name) : []);
    const config = configure(io, { logLevel: "error" });
    if (Number.isNaN(opts.balance)) opts.balance = config.exchange.paperBalanceQuote;
    // Stored candles include the one still forming (ingestion completes it on its next run):
    // a range reaching past now ends at the last closed candle, as the live agent decides.
    if (opts.toMs !== undefined) {
      opts.toMs = Math.min(opts.toMs, Date.now() - timeframeMs(config.timeframe) + 1);
    }
    if (sweep) {
      const settings = {
        initialQuote: opts.balance,
        feeRate: opts.feeRate,
        stepSize: opts.stepSize,
      };
      const sweepRun = async (db?: Db) => {
        const { params, exits } = await resolveParams(db, config, v.strategy, opts.exits);
        return sweepCommand(io, params, { ...settings, exits }, v.csv!, sweep);
      };
      return v.strategy ? await withDb(config, sweepRun) : await sweepRun();
    }
    const run = async (db?: Db) => {
      const { params, exits } = await resolveParams(db, config, v.strategy, opts.exits);
      return await backtest(io, config, params, { ...opts, exits }, db);
    };
    if (symbols) {
      const folio = await withDb(
        config,
        async (db) => {
          const { params, exits } = await resolveParams(db, config, v.strategy, opts.exits);
          return await portfolioBacktest(db, config, params, { ...opts, exits }, symbols);
        },
      );
      print(io, folio, Boolean(v.json), Boolean(v.trades));
      if (!v.json) io.out("\n" + table(folio.perSymbol));
      return;
    }
    const result = v.csv && !v.strategy ? await run() : await withDb(config, run);
    print(io, result, Boolean(v.json), Boolean(v.trades));
  },
};
export default command;

interface Result {
  summary: BacktestSummary;
  trades: Trade[];
  csv?: CsvReport;
  source: string;
  exits?: ExitRules;
}

interface RunOptions {
  feeRate: number;
  balance: number;
  stepSize?: number;
  equityCsv?: string;
  html?: string;
  slippageBps: number;
  csv?: string;
  symbol?: string;
  fromMs?: number;
  toMs?: number;
  exits?: ExitRules;
}

// Longer than ~80 lines: reads the two sources (CSV, table) and the three outputs in one place; each branch is short.
async function backtest(
  io: Io,
  config: Config,
  params: StrategyParams,
  o: RunOptions,
  db?: Db,
): Promise<Result> {
  const equity = o.equityCsv ? equityWriter(o.equityCsv) : undefined;
  const curve = o.html ? curveCollector() : undefined;
  const onEquity = equity && curve
    ? (ts: number, e: number) => (equity.add(ts, e), curve.add(ts, e))
    : equity?.add ?? curve?.add;
  const bt = createBacktest({
    params,
    initialQuote: o.balance,
    feeRate: o.feeRate,
    stepSize: o.stepSize,
    slippageBps: o.slippageBps,
    onEquity,
    exits: o.exits,
  });
  let lastProgress = performance.now();
  const progress = (text: () => string) => {
    if (!io.isTerminal || performance.now() - lastProgress < 1_000) return;
    lastProgress = performance.now();
    io.err(`progress: ${text()}`);
  };
  let csv: CsvReport | undefined;
  let source: string;
  try {
    if (o.csv) {
      const path = o.csv;
      source = path;
      let size = 0;
      try {
        size = (await Deno.stat(path)).size;
      } catch (error) {
        throw new UsageError(`Cannot read --csv ${path}: ${errorMessage(error)}`);
      }
      csv = await streamCandleCsv(path, bt.feed, {
        onProgress: (bytes) => progress(() => `${Math.floor(bytes / size * 100)}% of ${path}`),
      });
    } else {
      const series: Series = {
        exchangeId: config.exchange.id,
        symbol: o.symbol!,
        timeframe: config.timeframe,
      };
      source = `${series.symbol} ${series.timeframe} on ${series.exchangeId}`;
      let from = o.fromMs!;
      const to = o.toMs!;
      let n = 0;
      for (;;) {
        const page = await candlesBetween(db!, series, from, to, limits.backtestDbPageCandles);
        for (const c of page) bt.feed(c);
        n += page.length;
        progress(() => `${n} candles`);
        if (page.length < limits.backtestDbPageCandles) break;
        from = page[page.length - 1].ts + 1;
      }
    }
  } finally {
    equity?.close();
  }
  const { summary, trades } = bt.finish();
  if (summary.candles === 0) {
    throw new RuntimeError(
      `No usable candles in ${source}${csv ? ` (${csv.badCount} bad row(s))` : ""}; ` +
        `check the file or the --symbol/--from/--to range`,
    );
  }
  if (o.html && curve) {
    const html = backtestPage({
      summary,
      trades,
      curve: curve.values(),
      source,
      quote: config.symbols[0]?.split("/")[1] ?? "USDT",
    });
    try {
      await Deno.writeTextFile(o.html, html);
    } catch (error) {
      throw new RuntimeError(`Cannot write --html ${o.html}: ${errorMessage(error)}`);
    }
  }
  return { summary, trades, csv, source, exits: o.exits };
}

/**
 * `--symbols`: every symbol's stored candles over the range, merged in time order into one
 * portfolio on a shared balance. The candles are read into memory first (bounded).
 */
async function portfolioBacktest(
  db: Db,
  config: Config,
  params: StrategyParams,
  o: RunOptions,
  symbols: string[],
): Promise<Result & { perSymbol: Record<string, unknown>[] }> {
  const series = new Map<string, Candle[]>();
  let total = 0;
  for (const symbol of symbols) {
    const s: Series = { exchangeId: config.exchange.id, symbol, timeframe: config.timeframe };
    const all: Candle[] = [];
    let from = o.fromMs!;
    for (;;) {
      const page = await candlesBetween(db, s, from, o.toMs!, limits.backtestDbPageCandles);
      all.push(...page);
      total += page.length;
      if (total > limits.backtestPortfolioCandlesMax) {
        throw new UsageError(
          `More than ${limits.backtestPortfolioCandlesMax} candles for --symbols; use a shorter range`,
        );
      }
      if (page.length < limits.backtestDbPageCandles) break;
      from = page[page.length - 1].ts + 1;
    }
    if (all.length === 0) {
      throw new RuntimeError(
        `No candles of ${symbol} ${config.timeframe} in the range; download them first: ` +
          `pg-solo-lite candles download --symbol ${symbol} --from … --to …`,
      );
    }
    series.set(symbol, all);
  }
  const folio = createPortfolioBacktest({
    params,
    initialQuote: o.balance,
    feeRate: o.feeRate,
    stepSize: o.stepSize,
    slippageBps: o.slippageBps,
    symbols,
    exits: o.exits,
  });
  // A k-way merge by time: symbols are few, so a scan for the earliest head is enough.
  const at = new Map(symbols.map((s) => [s, 0]));
  for (;;) {
    let next: string | undefined;
    for (const s of symbols) {
      const c = series.get(s)![at.get(s)!];
      if (c && (!next || c.ts < series.get(next)![at.get(next)!].ts)) next = s;
    }
    if (!next) break;
    folio.feed(next, series.get(next)![at.get(next)!]);
    at.set(next, at.get(next)! + 1);
  }
  const { summary, trades, perSymbol } = folio.finish();
  return {
    summary,
    trades,
    source: `${symbols.join(", ")} ${config.timeframe} on ${config.exchange.id} (one balance)`,
    exits: o.exits,
    perSymbol: Object.entries(perSymbol).map(([symbol, s]: [string, BacktestSummary]) => ({
      symbol,
      trades: s.trades,
      wins: s.wins,
      pnl: Math.round(
        trades.filter((t) => t.symbol === symbol).reduce((a, t) => a + t.pnlQuote, 0) * 100,
      ) / 100,
      fees: Math.round(
        trades.filter((t) => t.symbol === symbol).reduce((a, t) => a + t.feeQuote, 0) * 100,
      ) / 100,
    })),
  };
}

/** The equity after every candle as [ts, equity] pairs in one growing typed array. */
function curveCollector() {
  let buf = new Float64Array(2 * 65_536);
  let n = 0;
  return {
    add(ts: number, equityQuote: number) {
      if (n + 2 > buf.length) {
        const bigger = new Float64Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      buf[n++] = ts;
      buf[n++] = equityQuote;
    },
    values: () => buf.subarray(0, n),
  };
}

function equityWriter(path: string) {
  const encoder = new TextEncoder();
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { write: true, create: true, truncate: true });
  } catch (error) {
    throw new UsageError(`Cannot write --equity-csv ${path}: ${errorMessage(error)}`);
  }
  let buf: string[] = ["ts,equity"];
  const flush = () => {
    const bytes = encoder.encode(buf.join("\n") + "\n");
    for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
    buf = [];
  };
  return {
    add(ts: number, equityQuote: number) {
      buf.push(`${new Date(ts).toISOString()},${equityQuote.toFixed(2)}`);
      if (buf.length >= 10_000) flush();
    },
    close() {
      if (buf.length > 0) flush();
      file.close();
    },
  };
}

function print(io: Io, r: Result, json: boolean, listTrades: boolean) {
  const iso = (ms?: number) => ms === undefined ? "" : new Date(ms).toISOString();
  const tradeRows = r.trades.map((t) => ({
    ...("symbol" in t ? { symbol: (t as { symbol: string }).symbol } : {}),
    entry_ts: iso(t.entryTs),
    exit_ts: iso(t.exitTs),
    qty: Number(t.qty.toPrecision(8)),
    entry: t.entryPrice,
    exit: Math.round(t.exitPrice * 100) / 100,
    fee: t.feeQuote.toFixed(2),
    pnl: t.pnlQuote.toFixed(2),
    exit_reason: t.reason,
  }));
  if (json) {
    io.out(JSON.stringify({
      source: r.source,
      exits: r.exits ? exitsJson(r.exits) : undefined,
      summary: r.summary,
      trades: tradeRows.map((row, i) => {
        const sells = r.trades[i].exits;
        return sells ? { ...row, exits: sells.map((e) => ({ ...e, ts: iso(e.ts) })) } : row;
      }),
      badRows: r.csv ? { count: r.csv.badCount, first: r.csv.errors } : undefined,
    }));
    return;
  }
  const s = r.summary;
  if (listTrades) {
    const rows = tradeRows.map((row, i) => {
      const sells = r.trades[i].exits;
      return sells ? { ...row, exit_reason: `${row.exit_reason} (${sells.length} sells)` } : row;
    });
    io.out(table(rows) + "\n");
  }
  io.out(
    `Backtest of "${s.strategy}" on ${r.source}: ${s.candles} candles, ` +
      `${iso(s.firstTs)} to ${iso(s.lastTs)}`,
  );
  io.out(table([
    {
      metric: "trades",
      value: `${s.trades} (${s.wins} won, ${s.losses} lost)` +
        (s.exitFills > s.trades ? `, closed in ${s.exitFills} sells` : ""),
    },
    { metric: "win rate", value: `${s.winRatePct} %` },
    { metric: "pnl", value: `${s.pnlQuote} (net of fees)` },
    { metric: "fees", value: String(s.feesQuote) },
    { metric: "max drawdown", value: `${s.maxDrawdownPct} %` },
    { metric: "return", value: `${s.returnPct} % (${s.initialQuote} → ${s.finalQuote})` },
    { metric: "profit factor", value: String(s.profitFactor ?? "–") },
    { metric: "expectancy", value: `${s.expectancyQuote ?? "–"} per trade` },
    { metric: "avg win / loss", value: `${s.avgWinQuote ?? "–"} / ${s.avgLossQuote ?? "–"}` },
    { metric: "exposure", value: `${s.exposurePct} %` },
    { metric: "sharpe / sortino", value: `${s.sharpe ?? "–"} / ${s.sortino ?? "–"} (annualised)` },
    { metric: "slippage", value: `${s.slippageBps} bps per fill` },
    { metric: "signals", value: `${s.signals} (${s.dropped} dropped, ${s.skipped} not sized)` },
    ...(r.exits ? [{ metric: "exits", value: exitRulesText(r.exits) }] : []),
  ]));
  if (r.csv && r.csv.badCount > 0) {
    io.out(`\n${r.csv.badCount} bad row(s) skipped:`);
    for (const e of r.csv.errors) io.out(`  line ${e.line}: ${e.reason}`);
    if (r.csv.badCount > r.csv.errors.length) {
      io.out(`  … and ${r.csv.badCount - r.csv.errors.length} more`);
    }
  }
}
