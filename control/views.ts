/**
 * Plain-text views for the operator (Telegram's /status, /positions, …, and the CLI's
 * `status`): short lines, numbers as stored, every account named. Each shows every account, or
 * only `accountId`'s (what a chat tied to that account may see). Unrealized PnL needs a price:
 * `price` (the running service's ticker) or else the latest stored candle's close.
 */
import type { Sql } from "../db/mod.ts";
import { activePauses, listAccounts, pauseReason } from "../execution/mod.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";
import { limits } from "../core/limits.ts";
import { withoutOperator } from "./operator_label.ts";

export type PriceOf = (exchangeId: string, symbol: string) => Promise<number | undefined>;

/** Whose data a view shows: one account's, or every account's without `accountId`. */
export interface ViewScope {
  accountId?: number;
}

export interface ViewOptions extends ViewScope {
  now?: Date;
  price?: PriceOf;
}

const num = (v: string | number | null | undefined, digits = 2) =>
  v === null || v === undefined || v === "" ? "–" : Number(Number(v).toFixed(digits)).toString();

/** The latest stored candle's close: a price when the service's own is not at hand. */
function storedPrice(sql: Sql): PriceOf {
  return async (exchangeId, symbol) => {
    const [row] = await sql.query<{ close: string }>(
      `select close::text from candles where exchange_id = $1 and symbol = $2
        order by ts desc limit 1`,
      [exchangeId, symbol],
    );
    return row ? Number(row.close) : undefined;
  };
}

interface OpenPosition {
  id: number;
  account: string;
  exchange_id: string;
  symbol: string;
  qty: string;
  avg: string | null;
  stop: string | null;
  target: string | null;
  /** A laddered take-profit: the slice whose price is `target`, and how many there are. */
  slice: number | null;
  slices: number | null;
  realized: string;
  /** The buys' fees (quote) still carried by the quantity held (positions.entry_fees). */
  entry_fees: string;
  opened_at: Date;
}

async function openPositions(sql: Sql, scope: ViewScope): Promise<OpenPosition[]> {
  return await sql.query<OpenPosition>(
    `select p.id, a.name as account, p.exchange_id, p.symbol, p.qty::text,
            p.avg_entry_price::text as avg, p.stop_price::text as stop,
            coalesce(p.take_profit_price,
                     (p.tp_ladder -> p.tp_ladder_filled ->> 'price')::numeric)::text as target,
            case when p.tp_ladder is not null then p.tp_ladder_filled + 1 end as slice,
            jsonb_array_length(p.tp_ladder) as slices,
            p.realized_pnl::text as realized, p.entry_fees::text as entry_fees, p.opened_at
       from positions p join accounts a on a.id = p.account_id
      where p.status = 'OPEN' and p.qty > 0 and ($1::int8 is null or p.account_id = $1::int8)
      order by a.id, p.id`,
    [scope.accountId ?? null],
  );
}

/** A price, or undefined once `limits.controlPriceTimeoutMs` passed (shown as "no price"). */
function boundedPrice(price: PriceOf): PriceOf {
  return (exchangeId, symbol) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), limits.controlPriceTimeoutMs);
    });
    return Promise.race([price(exchangeId, symbol).catch(() => undefined), late])
      .finally(() => clearTimeout(timer));
  };
}

/** Every open position's unrealized PnL, their prices looked up together, each bounded. */
function unrealizedAll(positions: OpenPosition[], price: PriceOf) {
  const bounded = boundedPrice(price);
  return Promise.all(positions.map((p) => unrealized(p, bounded)));
}

/**
 * What selling the position at `last` would realize before the sell's own fee: the price
 * difference less the buys' fees it still carries, as the realized PnL of a sell charges them
 * (execution/order_updates.ts); the percentage is of what the quantity cost.
 */
async function unrealized(p: OpenPosition, price: PriceOf) {
  const last = await price(p.exchange_id, p.symbol).catch(() => undefined);
  if (last === undefined || p.avg === null) return { last, pnl: undefined, pct: undefined };
  const cost = Number(p.qty) * Number(p.avg);
  const pnl = Number(p.qty) * last - cost - Number(p.entry_fees);
  return { last, pnl, pct: cost > 0 ? pnl / cost * 100 : undefined };
}

async function positionLines(sql: Sql, o: ViewOptions): Promise<string[]> {
  const price = o.price ?? storedPrice(sql);
  const lines: string[] = [];
  const open = await openPositions(sql, o);
  const pnl = await unrealizedAll(open, price);
  for (const [i, p] of open.entries()) {
    const u = pnl[i];
    lines.push(
      `#${p.id} ${p.account} ${p.symbol} ${num(p.qty, 8)} @ ${num(p.avg)}` +
        ` stop ${num(p.stop)} target ${num(p.target)}` +
        (p.slices ? ` (take-profit ${Math.min(p.slice!, p.slices)} of ${p.slices})` : "") +
        (u.pnl === undefined
          ? " (no price)"
          : ` last ${num(u.last)} PnL ${num(u.pnl)} (${num(u.pct)} %)`),
    );
  }
  return lines;
}

export async function positionsText(sql: Sql, o: ViewOptions = {}): Promise<string> {
  const lines = await positionLines(sql, o);
  return lines.length === 0 ? "No open positions" : ["Open positions:", ...lines].join("\n");
}

export async function statusText(sql: Sql, o: ViewOptions = {}): Promise<string> {
  const now = o.now ?? new Date();
  // The positions with their prices first (up to limits.controlPriceTimeoutMs), then the
  // pauses: a /pause handled while the prices came in is in this answer.
  const positions = await positionLines(sql, o);
  const pauses = await activePauses(sql, now);
  const accounts = (await listAccounts(sql)).filter((a) =>
    o.accountId === undefined || a.id === o.accountId
  );
  const lines = [o.accountId === undefined ? "Accounts:" : "Account:"];
  for (const a of accounts) {
    const paused = pauses.filter((p) => p.accountId === a.id);
    lines.push(
      `${a.name}: ${a.mode} on ${a.exchangeId}${a.enabled ? "" : " (disabled)"}, ${
        paused.length === 0
          ? "entries running"
          : paused.map((p) => shownTo(o, pauseReason(p))).join("; ")
      }`,
    );
  }
  lines.push(
    positions.length === 0 ? "No open positions" : `Open positions (${positions.length}):`,
  );
  lines.push(...positions);
  if (positions.length > 0) lines.push(await protectionLine(sql, o));
  return lines.join("\n");
}

/**
 * `text` as the chat it goes to may read it: a pause's reason names who acted when the operator
 * gave none ("paused by Telegram user 123"), which a chat tied to one account reads as "the
 * operator" (operator_label.ts).
 */
function shownTo(scope: ViewScope, text: string): string {
  return scope.accountId === undefined ? text : withoutOperator(text);
}

/**
 * How the open positions are protected: the software watch of serve for all, and how many have
 * a stop resting on the exchange (or in the paper broker), which protects them while serve is
 * down too.
 */
async function protectionLine(sql: Sql, o: ViewScope): Promise<string> {
  const [r] = await sql.query<{ open: number; resting: number }>(
    `select count(*)::int as open,
            count(*) filter (where exists (
              select 1 from orders s
               where s.position_id = p.id and s.purpose = 'stop_loss'
                 and s.status in ('OPEN', 'PARTIALLY_FILLED')))::int as resting
       from positions p
      where p.status = 'OPEN' and p.qty > 0 and ($1::bigint is null or p.account_id = $1)`,
    [o.accountId ?? null],
  );
  return "Protection: stops and targets are watched by serve every 5 s (software exits); " +
    `stops resting on the exchange: ${
      r.resting === 0 ? "none" : r.resting === r.open ? "all" : `${r.resting} of ${r.open}`
    }`;
}

export async function ordersText(
  sql: Sql,
  o: ViewScope & { limit?: number } = {},
): Promise<string> {
  const rows = await sql.query<{
    id: number;
    account: string;
    side: string;
    type: string;
    qty: string;
    symbol: string;
    status: string;
    price: string | null;
    avg: string | null;
  }>(
    `select o.id, a.name as account, o.side, o.type, o.qty::text, o.symbol, o.status,
            o.price::text, o.avg_fill_price::text as avg
       from orders o join accounts a on a.id = o.account_id
      where $2::int8 is null or o.account_id = $2::int8
      order by (o.status in ${ACTIVE_ORDER_STATUSES_SQL}) desc, o.id desc limit $1`,
    [o.limit ?? 30, o.accountId ?? null],
  );
  if (rows.length === 0) return "No orders";
  return [
    "Orders (active first, then the latest):",
    ...rows.map((r) =>
      `#${r.id} ${r.account} ${r.side} ${r.type} ${num(r.qty, 8)} ${r.symbol} ${r.status}` +
      (r.avg ? ` filled @ ${num(r.avg)}` : r.price ? ` @ ${num(r.price)}` : "")
    ),
  ].join("\n");
}

/** Balances from the ledger, per account and book (a live book starts at its first trade). */
export async function balanceText(sql: Sql, o: ViewScope = {}): Promise<string> {
  const rows = await sql.query<{ account: string; book: string; asset: string; total: string }>(
    `select a.name as account, t.account as book, t.asset, sum(t.amount)::text as total
       from transactions t join accounts a on a.id = t.account_id
      where $1::int8 is null or t.account_id = $1::int8
      group by a.id, a.name, t.account, t.asset having sum(t.amount) <> 0
      order by a.id, t.account, t.asset`,
    [o.accountId ?? null],
  );
  if (rows.length === 0) return "No balances in the ledger yet";
  const lines = ["Balances (from the ledger):"];
  for (const r of rows) lines.push(`${r.account} ${r.book}: ${num(r.total, 8)} ${r.asset}`);
  if (rows.some((r) => r.book === "main")) {
    lines.push("Live books count trades since the first one; the exchange holds the rest");
  }
  return lines.join("\n");
}

/**
 * Of a group of closed positions: how many have fees in a third asset (BNB) that had no price
 * at their fill, and those assets — their realized PnL excludes those fees.
 */
const UNPRICED_COLUMNS = `
  count(*) filter (where cardinality(p.unpriced_fee_assets) > 0)::int as unpriced,
  string_agg(nullif(array_to_string(p.unpriced_fee_assets, ','), ''), ',') as unpriced_assets`;

const excluding = (r: { unpriced: number; unpriced_assets: string | null }) =>
  r.unpriced > 0
    ? `; ${r.unpriced} of them exclude${r.unpriced === 1 ? "s" : ""} fees in ${
      [...new Set(r.unpriced_assets?.split(",") ?? [])].sort().join(", ")
    } (no price known at the fill)`
    : "";

const DAY = 86_400_000;
const dayStart = (d: Date) =>
  new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));

/**
 * Realized PnL (closed positions) today, over 7 days and in all, and unrealized of the open
 * ones, per account and quote asset: paper and live, USDT and BTC are never summed together.
 */
export async function profitText(sql: Sql, now: Date, o: ViewOptions = {}): Promise<string> {
  const today = dayStart(now);
  const rows = await sql.query<
    {
      account: string;
      quote: string;
      today: string;
      week: string;
      all: string;
      n: number;
      unpriced: number;
      unpriced_assets: string | null;
    }
  >(
    `select a.name as account, split_part(p.symbol, '/', 2) as quote,
            coalesce(sum(p.realized_pnl) filter (where p.closed_at >= $1), 0)::text as today,
            coalesce(sum(p.realized_pnl) filter (where p.closed_at >= $2), 0)::text as week,
            coalesce(sum(p.realized_pnl), 0)::text as all, count(*)::int as n,
            ${UNPRICED_COLUMNS}
       from positions p join accounts a on a.id = p.account_id
      where p.status = 'CLOSED' and ($3::int8 is null or p.account_id = $3::int8)
      group by a.id, a.name, 2 order by a.id, 2`,
    [today, new Date(today.getTime() - 6 * DAY), o.accountId ?? null],
  );
  const price = o.price ?? storedPrice(sql);
  const open = new Map<string, { pnl: number; priced: number; n: number }>();
  const positions = await openPositions(sql, o);
  const pnl = await unrealizedAll(positions, price);
  for (const [i, p] of positions.entries()) {
    const key = `${p.account} ${p.symbol.split("/")[1]}`;
    const u = pnl[i];
    const v = open.get(key) ?? { pnl: 0, priced: 0, n: 0 };
    v.n++;
    if (u.pnl !== undefined) {
      v.pnl += u.pnl;
      v.priced++;
    }
    open.set(key, v);
  }
  const lines: string[] = [];
  for (const r of rows) {
    lines.push(
      `${r.account} ${r.quote}: realized today ${num(r.today)}, 7 days ${num(r.week)}, ` +
        `all ${num(r.all)} (${r.n} closed${excluding(r)})`,
    );
  }
  for (const [key, v] of open) {
    lines.push(`${key}: unrealized ${num(v.pnl)} on ${v.priced} of ${v.n} open positions`);
  }
  return lines.length === 0 ? "No trades yet" : ["PnL:", ...lines].join("\n");
}

/** The last 7 UTC days: positions closed and their realized PnL, per account and quote. */
export async function dailyText(sql: Sql, now: Date, o: ViewScope = {}): Promise<string> {
  const first = new Date(dayStart(now).getTime() - 6 * DAY);
  const rows = await sql.query<
    {
      day: string;
      account: string;
      quote: string;
      n: number;
      pnl: string;
      unpriced: number;
      unpriced_assets: string | null;
    }
  >(
    `select to_char(p.closed_at at time zone 'UTC', 'YYYY-MM-DD') as day, a.name as account,
            split_part(p.symbol, '/', 2) as quote, count(*)::int as n,
            sum(p.realized_pnl)::text as pnl, ${UNPRICED_COLUMNS}
       from positions p join accounts a on a.id = p.account_id
      where p.status = 'CLOSED' and p.closed_at >= $1
        and ($2::int8 is null or p.account_id = $2::int8)
      group by 1, a.id, a.name, 3 order by 1, a.id, 3`,
    [first, o.accountId ?? null],
  );
  const byDay = new Map<string, typeof rows>();
  for (const r of rows) byDay.set(r.day, [...(byDay.get(r.day) ?? []), r]);
  const lines = ["Day (UTC)  closed  realized PnL"];
  for (let i = 0; i < 7; i++) {
    const day = new Date(first.getTime() + i * DAY).toISOString().slice(0, 10);
    const of = byDay.get(day) ?? [];
    if (of.length === 0) lines.push(`${day}  ${"0".padStart(6)}  0`);
    for (const r of of) {
      lines.push(
        `${day}  ${String(r.n).padStart(6)}  ${num(r.pnl)} ${r.quote} (${r.account}${
          excluding(r)
        })`,
      );
    }
  }
  return lines.join("\n");
}
