/**
 * Report snapshots: built from the ledger, the fills and the candles of one scope, stored once in
 * the immutable `reports` table under an unguessable id, and read back. A closed period has
 * exactly one final snapshot per scope and kind (a unique index); asking again returns the stored
 * one, never a recomputed one. A period still running gets a new partial snapshot each time.
 */
import type { Db, Sql } from "../db/mod.ts";
import { computeSnapshot, type FillRow, type Snapshot } from "./metrics.ts";
import { type Period, periodOf, type ReportKind } from "./period.ts";
import { renderReportPage } from "./page.ts";

/**
 * Whose numbers: one exchange and one ledger account ("paper", or "main" for live/sandbox) —
 * of every trading account that books there, or of one trading account alone (`accountId`).
 */
export interface ReportScope {
  exchangeId: string;
  account: string;
  /** The asset equity is valued in (e.g. USDT). */
  quote: string;
  /** Only this trading account's orders, fills and ledger legs; undefined: all of them. */
  accountId?: number;
  /** The scope's stored name when it is one account's: that account's name. */
  name?: string;
}

export interface StoredReport {
  id: string;
  kind: ReportKind;
  scope: string;
  periodStart: Date;
  periodEnd: Date;
  partial: boolean;
  createdAt: Date;
  snapshot: Snapshot;
}

/**
 * "binance:paper" for every account booking there, or the account's name for one account
 * (account names never contain ":", so the two never collide).
 */
export const scopeName = (s: ReportScope) => s.name ?? `${s.exchangeId}:${s.account}`;

/** 128 bits from the system's CSPRNG, as 22 URL-safe characters. */
export function newReportId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

export interface BuildResult {
  report: StoredReport;
  /** False when the final snapshot of that period was stored before and is returned as is. */
  created: boolean;
}

/** The snapshot of the `kind` period containing `at`: stored final one, or a new one. */
export async function buildReport(
  db: Db,
  o: { kind: ReportKind; at: Date; scope: ReportScope; now: Date },
): Promise<BuildResult> {
  const period = periodOf(o.kind, o.at);
  const partial = period.end.getTime() > o.now.getTime();
  const scope = scopeName(o.scope);
  if (!partial) {
    const stored = await finalReport(db, scope, period);
    if (stored) return { report: stored, created: false };
  }
  let snapshot = await snapshotOf(db, o.scope, period, partial ? o.now : period.end);
  if (!partial) {
    const lacked = await endPriceGaps(db, o.scope, period);
    if (lacked.length > 0) {
      snapshot = {
        ...snapshot,
        lackedPrices: lacked.map((g) => ({
          symbol: g.symbol,
          pricedAt: g.pricedAt?.toISOString() ?? null,
        })),
      };
    }
  }
  const id = newReportId();
  const createdAt = o.now;
  const report: StoredReport = {
    id,
    kind: o.kind,
    scope,
    periodStart: period.start,
    periodEnd: period.end,
    partial,
    createdAt,
    snapshot,
  };
  const rows = await db.query<{ id: string }>(
    `insert into reports (id, kind, scope, period_start, period_end, partial, metrics, html,
                          created_at)
     values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)
     on conflict (scope, kind, period_start) where not partial do nothing
     returning id`,
    [
      id,
      o.kind,
      scope,
      period.start,
      period.end,
      partial,
      JSON.stringify(snapshot),
      renderReportPage(report),
      createdAt,
    ],
  );
  if (rows.length > 0) return { report, created: true };
  // Another builder stored this period's final snapshot first: that one stands.
  return { report: (await finalReport(db, scope, period))!, created: false };
}

async function snapshotOf(db: Sql, scope: ReportScope, period: Period, until: Date) {
  const params = [scope.exchangeId, scope.account, until, scope.accountId ?? null];
  const [legs, fills, prices, funded] = await Promise.all([
    db.query<{ asset: string; amount: number; at: Date; kind: string; account: string | null }>(
      `select t.asset, t.amount::float8 as amount, t.created_at as at, t.kind,
              a.name as account
         from transactions t left join accounts a on a.id = t.account_id
        where t.exchange_id = $1 and t.account = $2 and t.created_at <= $3
          and ($4::bigint is null or t.account_id = $4) order by t.id`,
      params,
    ),
    // A fill is dated by its ledger legs, as the equity is: one booked late (found by the
    // reconciler after a restart, its period's report already stored) belongs to the period
    // it was booked in, both its trade and its cash, instead of to none. The execution row is
    // written in the transaction of its legs (order_updates.ts), so its created_at is theirs;
    // reading it keeps the query off the account's whole ledger.
    db.query<FillRow>(
      `select o.symbol, o.side, e.qty::float8 as qty, e.price::float8 as price,
              e.fee::float8 as fee, e.fee_currency as "feeAsset", e.fee_quote::float8 as "feeQuote",
              e.created_at as at, o.strategy,
              a.name as account,
              (select nullif(ei.trading_rules ->> 'step_size', '')::float8
                 from exchange_instruments ei join instruments i on i.id = ei.instrument_id
                where ei.exchange_id = o.exchange_id and i.symbol = o.symbol) as "stepSize"
         from executions e join orders o on o.id = e.order_id
         left join accounts a on a.id = o.account_id
        where o.exchange_id = $1 and e.created_at <= $3
          and ($4::bigint is null or o.account_id = $4)
          and exists (select 1 from transactions t where t.execution_id = e.id and t.account = $2)
        order by e.created_at, e.id`,
      params,
    ),
    // A candle's close is known at the end of the candle.
    db.query<{ symbol: string; at: Date; price: number }>(
      `select symbol, ts + ${CANDLE_SPAN} as at, close::float8 as price
         from candles where exchange_id = $1 and ts >= $2 and ts <= $3`,
      [scope.exchangeId, new Date(period.start.getTime() - 86_400_000), until],
    ),
    db.query<{ ok: boolean }>(
      `select exists (select 1 from transactions where exchange_id = $1 and account = $2
                        and kind = 'deposit' and created_at <= $3
                        and ($4::bigint is null or account_id = $4)) as ok`,
      params,
    ),
  ]);
  return computeSnapshot({
    period,
    until,
    quote: scope.quote,
    legs,
    fills,
    prices,
    funded: funded[0]?.ok === true,
  });
}

/** How long a candle of the row's timeframe lasts, in SQL. */
const CANDLE_SPAN = `(case timeframe when '1m' then 1 when '3m' then 3 when '5m' then 5
                       when '15m' then 15 when '30m' then 30 when '1h' then 60
                       when '4h' then 240 else 1440 end) * interval '1 minute'`;

export interface EndPriceGap {
  symbol: string;
  /** The close of its latest candle before the end (from the day before the period on). */
  pricedAt: Date | null;
  /** No candle of it is stored from the end on yet: ingestion may still fill the gap. */
  waiting: boolean;
}

/**
 * The symbols whose price a closed period's end equity needs (each asset held at the end, in
 * the quote) that have candles, but not the one running at the end: the end would be valued at
 * an older price (after a downtime, before ingestion filled the gap, or a gap it skipped). A
 * symbol without any candle is valued from its fills, as always, and is not a gap.
 */
export async function endPriceGaps(
  db: Sql,
  scope: ReportScope,
  period: Period,
): Promise<EndPriceGap[]> {
  const rows = await db.query<{ symbol: string; priced_at: Date | null; waiting: boolean }>(
    `with held as (
       select asset from transactions
        where exchange_id = $1 and account = $2 and created_at <= $3
          and ($4::bigint is null or account_id = $4) and asset <> $5
        group by asset having abs(sum(amount)) > 1e-12)
     select h.asset || '/' || $5 as symbol, c.priced_at, not c.later as waiting
       from held h
      cross join lateral (
        select (select max(ts + ${CANDLE_SPAN}) from candles
                 where exchange_id = $1 and symbol = h.asset || '/' || $5
                   and ts >= $6 and ts + ${CANDLE_SPAN} <= $3) as priced_at,
               exists (select 1 from candles
                        where exchange_id = $1 and symbol = h.asset || '/' || $5
                          and ts >= $3 - interval '2 days' and ts < $3
                          and ts + ${CANDLE_SPAN} <= $3 and ts + 2 * ${CANDLE_SPAN} > $3)
                 as covered,
               exists (select 1 from candles
                        where exchange_id = $1 and symbol = h.asset || '/' || $5 and ts >= $3)
                 as later,
               exists (select 1 from candles
                        where exchange_id = $1 and symbol = h.asset || '/' || $5) as priced
      ) c
      where c.priced and not c.covered
      order by 1`,
    [
      scope.exchangeId,
      scope.account,
      period.end,
      scope.accountId ?? null,
      scope.quote,
      new Date(period.start.getTime() - 86_400_000),
    ],
  );
  return rows.map((r) => ({
    symbol: r.symbol,
    pricedAt: r.priced_at ? new Date(r.priced_at) : null,
    waiting: r.waiting,
  }));
}

interface ReportRow {
  id: string;
  kind: ReportKind;
  scope: string;
  period_start: Date;
  period_end: Date;
  partial: boolean;
  created_at: Date;
  metrics: Snapshot;
}

const COLUMNS = "id, kind, scope, period_start, period_end, partial, created_at, metrics";

const fromRow = (r: ReportRow): StoredReport => ({
  id: r.id,
  kind: r.kind,
  scope: r.scope,
  periodStart: new Date(r.period_start),
  periodEnd: new Date(r.period_end),
  partial: r.partial,
  createdAt: new Date(r.created_at),
  snapshot: r.metrics,
});

async function finalReport(db: Sql, scope: string, period: Period) {
  const [row] = await db.query<ReportRow>(
    `select ${COLUMNS} from reports
      where scope = $1 and kind = $2 and period_start = $3 and not partial`,
    [scope, period.kind, period.start],
  );
  return row ? fromRow(row) : undefined;
}

/** One report by id; undefined when there is none (a malformed id included). */
export async function reportById(db: Sql, id: string): Promise<StoredReport | undefined> {
  const [row] = await db.query<ReportRow>(`select ${COLUMNS} from reports where id = $1`, [id]);
  return row ? fromRow(row) : undefined;
}

/** The stored page of a report. */
export async function reportPage(db: Sql, id: string): Promise<string | undefined> {
  const [row] = await db.query<{ html: string }>("select html from reports where id = $1", [id]);
  return row?.html;
}

/** The newest reports first; of one scope (by its name) when given. */
export async function listReports(db: Sql, limit = 50, scope?: string): Promise<StoredReport[]> {
  const rows = await db.query<ReportRow>(
    `select ${COLUMNS} from reports where ($2::text is null or scope = $2)
      order by created_at desc, period_start desc limit $1`,
    [limit, scope ?? null],
  );
  return rows.map(fromRow);
}

/** The start of the earliest activity of a scope (its first ledger leg), for catching up. */
export async function firstActivity(db: Sql, scope: ReportScope): Promise<Date | undefined> {
  const [row] = await db.query<{ at: Date | null }>(
    `select min(created_at) as at from transactions where exchange_id = $1 and account = $2
        and ($3::bigint is null or account_id = $3)`,
    [scope.exchangeId, scope.account, scope.accountId ?? null],
  );
  return row?.at ? new Date(row.at) : undefined;
}
