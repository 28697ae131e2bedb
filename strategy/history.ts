/**
 * History for backtests (`candles download`): closed candles of one series over a range,
 * fetched from the exchange page by page (ccxt's throttle keeps to the exchange's rate limit)
 * into the `candles` table — marked kept, so the ingestion window never trims them — or into a
 * CSV file. Resumable: into the table, only the gaps of the range are fetched (what an
 * interrupted run left, and nothing twice); into a file, a rerun appends after its last row.
 */
import { RuntimeError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Sql } from "../db/mod.ts";
import type { Candle, Exchange } from "../exchange/mod.ts";
import { type Series, timeframeMs, upsertCandles } from "./candles.ts";

export interface DownloadOptions {
  exchange: Pick<Exchange, "fetchOHLCV">;
  series: Series;
  fromMs: number;
  /** Exclusive. */
  toMs: number;
  /** Now, to leave out the candle still forming. */
  nowMs: number;
  /** Where pages go: the candles table or a CSV file. */
  sink: CandleSink;
  onProgress?: (p: { fetched: number; expected: number }) => void;
}

export interface CandleSink {
  /** The sub-ranges [from, to) of the requested range not yet stored, oldest first. */
  missing(fromMs: number, toMs: number, stepMs: number): Promise<[number, number][]>;
  write(candles: Candle[]): Promise<void>;
}

export interface DownloadResult {
  fetched: number;
  pages: number;
  /** Candles the range should hold (the exchange may have fewer, e.g. before a listing). */
  expected: number;
  /** Ranges that were missing before this run. */
  gaps: number;
}

export async function downloadCandles(o: DownloadOptions): Promise<DownloadResult> {
  const step = timeframeMs(o.series.timeframe);
  const from = Math.ceil(o.fromMs / step) * step;
  // The last candle taken is the last one closed by now.
  const to = Math.min(o.toMs, Math.floor(o.nowMs / step) * step);
  const gaps = to > from ? await o.sink.missing(from, to, step) : [];
  const expected = gaps.reduce((n, [a, b]) => n + Math.ceil((b - a) / step), 0);
  let fetched = 0;
  let pages = 0;
  for (const [gapFrom, gapTo] of gaps) {
    let since = gapFrom;
    while (since < gapTo) {
      if (++pages > limits.historyPagesMax) {
        throw new RuntimeError(
          `Stopped after ${limits.historyPagesMax} pages; download a shorter range at a time`,
        );
      }
      const page = (await o.exchange.fetchOHLCV(
        o.series.symbol,
        o.series.timeframe,
        since,
        limits.historyPageCandles,
      )).filter((c) => c.ts >= since && c.ts < gapTo);
      if (page.length === 0) break; // nothing there (before the listing, or a gap upstream)
      await o.sink.write(page);
      fetched += page.length;
      o.onProgress?.({ fetched, expected });
      since = page[page.length - 1].ts + step;
    }
  }
  return { fetched, pages, expected, gaps: gaps.length };
}

/** The candles table as the sink: gaps found with one query over the stored open times. */
export function tableSink(sql: Sql, series: Series): CandleSink {
  return {
    async missing(fromMs, toMs, stepMs) {
      const rows = await sql.query<{ a: number; b: number }>(
        `with t as (
           select (extract(epoch from ts) * 1000)::int8 as ts from candles
            where exchange_id = $1 and symbol = $2 and timeframe = $3
              and ts >= $4::timestamptz and ts < $5::timestamptz),
         edges as (
           select $6::int8 - $7::int8 as ts union all select ts from t
           union all select $8::int8)
         select ts + $7::int8 as a, next as b from (
           select ts, lead(ts) over (order by ts) as next from edges) g
          where next - ts > $7::int8
          order by a`,
        [
          series.exchangeId,
          series.symbol,
          series.timeframe,
          new Date(fromMs).toISOString(),
          new Date(toMs).toISOString(),
          fromMs,
          stepMs,
          toMs,
        ],
      );
      return rows.map((r) => [Number(r.a), Number(r.b)]);
    },
    write: (candles) => upsertCandles(sql, series, candles, { kept: true }),
  };
}

/**
 * A CSV file as the sink (`ts,open,high,low,close,volume`, ISO-8601 times, the format
 * `backtest --csv` reads fastest): a rerun appends after the file's last row.
 */
export async function csvSink(path: string): Promise<CandleSink & { close(): void }> {
  let lastTs: number | undefined;
  let exists = false;
  try {
    const text = await Deno.readTextFile(path);
    exists = text.length > 0;
    const last = text.trimEnd().split("\n").at(-1) ?? "";
    const ts = Date.parse(last.split(",")[0]);
    if (Number.isFinite(ts)) lastTs = ts;
    else if (exists && !/^ts,/.test(last)) {
      throw new RuntimeError(`${path} does not end with a candle row; use a new file`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const file = await Deno.open(path, { write: true, create: true, append: true });
  const enc = new TextEncoder();
  if (!exists) await file.write(enc.encode("ts,open,high,low,close,volume\n"));
  return {
    missing(fromMs, toMs, stepMs) {
      const start = lastTs === undefined ? fromMs : Math.max(fromMs, lastTs + stepMs);
      return Promise.resolve(start < toMs ? [[start, toMs]] : []);
    },
    async write(candles) {
      const lines = candles.map((c) =>
        `${new Date(c.ts).toISOString()},${c.open},${c.high},${c.low},${c.close},${c.volume}\n`
      ).join("");
      const bytes = enc.encode(lines);
      for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
      lastTs = candles.at(-1)?.ts ?? lastTs;
    },
    close: () => file.close(),
  };
}
