/**
 * Queries on `candles`. Market data is read as numbers (indicators need floats) and written
 * as decimal strings; times are epoch milliseconds on the TypeScript side.
 */
import type { Candle } from "../exchange/mod.ts";
import type { Sql } from "../db/mod.ts";

export interface Series {
  exchangeId: string;
  symbol: string;
  timeframe: string;
}

// `ts` in the output is epoch milliseconds; ORDER BY must name `candles.ts` (the column) so the
// primary key gives the order instead of a sort over every row in the range.
const COLUMNS = `(extract(epoch from ts) * 1000)::int8 as ts, open::float8 as open,
  high::float8 as high, low::float8 as low, close::float8 as close, volume::float8 as volume`;

/**
 * Inserts or updates candles (the forming candle changes until it closes). `kept` marks
 * downloaded history that the ingestion window never trims (an existing row keeps its mark).
 */
export async function upsertCandles(
  sql: Sql,
  s: Series,
  candles: Candle[],
  options: { kept?: boolean } = {},
): Promise<void> {
  if (candles.length === 0) return;
  const params: unknown[] = [s.exchangeId, s.symbol, s.timeframe, options.kept === true];
  const rows = candles.map((c) => {
    const i = params.length;
    params.push(
      new Date(c.ts).toISOString(),
      String(c.open),
      String(c.high),
      String(c.low),
      String(c.close),
      String(c.volume),
    );
    return `($1, $2, $3, $${i + 1}::timestamptz, $${i + 2}::numeric, $${i + 3}::numeric, ` +
      `$${i + 4}::numeric, $${i + 5}::numeric, $${i + 6}::numeric, $4)`;
  });
  await sql.query(
    `insert into candles (exchange_id, symbol, timeframe, ts, open, high, low, close, volume, kept)
     values ${rows.join(", ")}
     on conflict (exchange_id, symbol, timeframe, ts) do update set
       open = excluded.open, high = excluded.high, low = excluded.low,
       close = excluded.close, volume = excluded.volume,
       kept = candles.kept or excluded.kept`,
    params,
  );
}

/**
 * Deletes all but the newest `keep` candles of a series, sparing downloaded history (`kept`);
 * returns how many were deleted.
 */
export async function pruneCandles(sql: Sql, s: Series, keep: number): Promise<number> {
  const rows = await sql.query<{ n: number }>(
    `with doomed as (
       delete from candles
       where exchange_id = $1 and symbol = $2 and timeframe = $3 and not kept and ts < (
         select ts from candles where exchange_id = $1 and symbol = $2 and timeframe = $3
         order by ts desc offset $4 limit 1)
       returning 1)
     select count(*)::int8 as n from doomed`,
    [s.exchangeId, s.symbol, s.timeframe, keep - 1],
  );
  return rows[0]?.n ?? 0;
}

/** Open time of the newest stored candle, or undefined when there is none. */
export async function lastCandleTs(sql: Sql, s: Series): Promise<number | undefined> {
  const [row] = await sql.query<{ ts: number | null }>(
    `select (extract(epoch from max(ts)) * 1000)::int8 as ts from candles
     where exchange_id = $1 and symbol = $2 and timeframe = $3`,
    [s.exchangeId, s.symbol, s.timeframe],
  );
  return row?.ts ?? undefined;
}

/**
 * Candles with open time in [fromMs, toMs), oldest first, at most `limit`. Callers page by
 * passing the last ts + 1 as the next `fromMs`.
 */
export function candlesBetween(
  sql: Sql,
  s: Series,
  fromMs: number,
  toMs: number,
  limit: number,
): Promise<Candle[]> {
  return sql.query<Candle>(
    `select ${COLUMNS} from candles
     where exchange_id = $1 and symbol = $2 and timeframe = $3
       and ts >= $4::timestamptz and ts < $5::timestamptz
     order by candles.ts limit $6`,
    [
      s.exchangeId,
      s.symbol,
      s.timeframe,
      new Date(fromMs).toISOString(),
      new Date(toMs)
        .toISOString(),
      limit,
    ],
  );
}

/** The newest `limit` candles with open time before `toMs`, oldest first. */
export async function latestCandles(
  sql: Sql,
  s: Series,
  toMs: number,
  limit: number,
): Promise<Candle[]> {
  const rows = await sql.query<Candle>(
    `select ${COLUMNS} from candles
     where exchange_id = $1 and symbol = $2 and timeframe = $3 and ts < $4::timestamptz
     order by candles.ts desc limit $5`,
    [s.exchangeId, s.symbol, s.timeframe, new Date(toMs).toISOString(), limit],
  );
  return rows.reverse();
}

const TIMEFRAME_MS: Record<string, number> = {
  "1m": 60_000,
  "3m": 180_000,
  "5m": 300_000,
  "15m": 900_000,
  "30m": 1_800_000,
  "1h": 3_600_000,
  "4h": 14_400_000,
  "1d": 86_400_000,
};

export function timeframeMs(timeframe: string): number {
  const ms = TIMEFRAME_MS[timeframe];
  if (!ms) throw new Error(`Assertion failed: unknown timeframe "${timeframe}"`);
  return ms;
}
