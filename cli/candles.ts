import { errorMessage, RuntimeError, UsageError } from "../core/errors.ts";
import { createCcxtExchange } from "../exchange/mod.ts";
import { csvSink, downloadCandles, tableSink } from "../strategy/mod.ts";
import { type Command, configure, parse, parseDateFlag, withDb } from "./common.ts";

const TIMEFRAMES = ["1m", "3m", "5m", "15m", "30m", "1h", "4h", "1d"];

const HELP = `Usage: pg-solo-lite candles download --symbol S --from DATE --to DATE
         [--timeframe T] [--out FILE]

Fetches closed candles of S (e.g. BTC/USDT) on EXCHANGE_ID from the exchange's public API,
page by page within its rate limit, for backtests:
  into the candles table (default): kept there (the ingestion window never trims them), and a
    rerun fetches only what is missing in the range — an interrupted download resumes;
  into a CSV file with --out FILE: ts,open,high,low,close,volume (ISO-8601), appended after the
    file's last row when it exists.
No API key is used. A progress line shows on a terminal.

  --symbol S       unified symbol, BASE/QUOTE
  --from DATE      YYYY-MM-DD or an ISO-8601 time (inclusive)
  --to DATE        YYYY-MM-DD (inclusive: the whole day) or an ISO-8601 time (exclusive)
  --timeframe T    ${TIMEFRAMES.join(" ")} (default TIMEFRAME)
  --out FILE       write a CSV file instead of the table

Examples:
  pg-solo-lite candles download --symbol BTC/USDT --from 2026-01-01 --to 2026-03-31
  pg-solo-lite backtest --symbol BTC/USDT --from 2026-01-01 --to 2026-03-31`;

function parseDate(name: string, v: string | undefined, endOfDay: boolean): number {
  if (!v) throw new UsageError(`--${name} is required; see: pg-solo-lite candles --help`);
  return parseDateFlag(name, v, endOfDay);
}

const command: Command = {
  name: "candles",
  help: HELP,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub !== "download") {
      throw new UsageError(
        `Unknown candles command "${sub ?? ""}"; use: pg-solo-lite candles download --help`,
      );
    }
    const { values: v } = parse("candles", rest, {
      symbol: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      timeframe: { type: "string" },
      out: { type: "string" },
    }, { max: 0 });
    if (!v.symbol || !/^[A-Z0-9]+\/[A-Z0-9]+$/.test(v.symbol)) {
      throw new UsageError(`--symbol must be BASE/QUOTE, e.g. BTC/USDT (got "${v.symbol ?? ""}")`);
    }
    const fromMs = parseDate("from", v.from, false);
    const toMs = parseDate("to", v.to, true);
    if (toMs <= fromMs) throw new UsageError("--to must be after --from");
    const config = configure(io, { logLevel: "error" });
    const timeframe = v.timeframe ?? config.timeframe;
    if (!TIMEFRAMES.includes(timeframe)) {
      throw new UsageError(`--timeframe "${timeframe}" is not one of ${TIMEFRAMES.join(" ")}`);
    }
    const series = { exchangeId: config.exchange.id, symbol: v.symbol, timeframe };
    // Public market data: no keys are given to this client.
    const exchange = await createCcxtExchange({
      ...config.exchange,
      apiKey: undefined,
      apiSecret: undefined,
    });
    let last = 0;
    const onProgress = io.isTerminal
      ? ({ fetched, expected }: { fetched: number; expected: number }) => {
        if (performance.now() - last < 500) return;
        last = performance.now();
        const pct = expected ? Math.min(100, Math.floor((fetched / expected) * 100)) : 100;
        io.err(`… ${fetched} / ${expected} candles (${pct} %)`);
      }
      : undefined;
    const download = (sink: Parameters<typeof downloadCandles>[0]["sink"]) =>
      downloadCandles({ exchange, series, fromMs, toMs, nowMs: Date.now(), sink, onProgress });
    try {
      let result;
      if (v.out) {
        let sink;
        try {
          sink = await csvSink(v.out);
        } catch (error) {
          throw new RuntimeError(`Cannot write --out ${v.out}: ${errorMessage(error)}`);
        }
        try {
          result = await download(sink);
        } finally {
          sink.close();
        }
      } else {
        result = await withDb(config, (db) => download(tableSink(db, series)));
      }
      io.out(
        `${result.fetched} candle(s) of ${series.symbol} ${timeframe} on ${series.exchangeId} ` +
          `stored ${v.out ? `in ${v.out}` : "in candles"} (${result.pages} page(s); ` +
          `${result.gaps === 0 ? "nothing was missing" : `${result.gaps} missing range(s)`})`,
      );
    } finally {
      await exchange.close?.();
    }
  },
};
export default command;
