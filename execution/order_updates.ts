/**
 * Applies what the exchange says about an order: status, exchange id, and each new fill as an
 * execution, a position change and three ledger legs (base, quote, fee) — all inside the
 * caller's transaction, so a fill is recorded completely or not at all. A fill already stored
 * (same exchange trade id) is skipped, which makes re-applying the same evidence harmless.
 * Trades without an id (some exchanges give none) are never told apart: what they add up to
 * beyond the order's stored executions is recorded as one execution keyed by the cumulative
 * quantity, and so is, in the end, what the order says it filled beyond the trades it shows.
 */
import type { Sql } from "../db/mod.ts";
import type { ExchangeOrder, Fill } from "../exchange/mod.ts";
import { limits } from "../core/limits.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { isActiveOrderStatus } from "../trading/statuses.ts";
import { dec } from "../trading/decimal.ts";
import { markRejected } from "./orders_sql.ts";
import { accountTag } from "./accounts.ts";
import { tellFillAfterExit } from "./exit_fills.ts";
import type { LadderSlice } from "../trading/ladder.ts";

export interface OrderRow {
  id: number;
  account_id: number;
  /** The account's name: messages about accounts other than the default one name it. */
  account_name: string;
  exchange_id: string;
  symbol: string;
  side: "buy" | "sell";
  type: string;
  purpose: string;
  qty: string;
  status: string;
  client_order_id: string;
  idempotency_key: string;
  strategy: string | null;
  alert_id: number | null;
  decision: {
    sl?: string;
    tp?: string;
    sizing?: string;
    /** The entry's trail as planned (the alert's or the strategy's), and the alert's own. */
    trail_pct?: string;
    trail_activation_pct?: string;
    trailPct?: string;
    /** The entry's take-profit slices (a laddered strategy). */
    ladder?: LadderSlice[];
  } | null;
  stop_price: string | null;
  created_at: Date;
  updated_at: Date;
  reconcile_misses: number;
}

export const ORDER_COLUMNS = `id, account_id,
  (select a.name from accounts a where a.id = orders.account_id) as account_name, exchange_id, symbol, side, type, purpose, qty::text, status,
  client_order_id, idempotency_key, strategy, alert_id, decision, stop_price::text, created_at,
  updated_at, reconcile_misses`;

const tagOf = (o: Pick<OrderRow, "account_id" | "account_name">) =>
  accountTag({ id: o.account_id, name: o.account_name });

function statusOf(o: ExchangeOrder, complete: boolean): string {
  switch (o.status) {
    case "closed":
      // A closed order whose fills are not all stored yet stays active until they are.
      return complete ? "FILLED" : "PARTIALLY_FILLED";
    case "canceled":
      return complete ? "CANCELED" : "PARTIALLY_FILLED";
    case "rejected":
      return "REJECTED";
    case "expired":
      return complete ? "EXPIRED" : "PARTIALLY_FILLED";
    default:
      return Number(o.filled) > 0 ? "PARTIALLY_FILLED" : "OPEN";
  }
}

/**
 * A fill's fee in the market's quote, as its position is charged ($5 fee, $6 its asset, $4 the
 * fill's price, $9 base, $10 quote, $11 the exchange, $12 the fill's time or null): the fee
 * itself in the quote, fee × price in the base, and a fee in a third asset (BNB on Binance) at
 * the close of the latest <asset>/<quote> candle closed at or before the fill (the price the
 * reports use; one index lookup per timeframe); null when there is none. No network call: the
 * transaction holds what it needs.
 */
const FEE_QUOTE = `case
  when $5::numeric = 0 then 0
  when $6::text = $10::text then $5::numeric
  when $6::text = $9::text then $5::numeric * $4::numeric
  else $5::numeric * (
    select c.close
      from (select coalesce($12::timestamptz, now()) as at) t
     cross join (values ('1m', 1), ('3m', 3), ('5m', 5), ('15m', 15), ('30m', 30), ('1h', 60),
                        ('4h', 240), ('1d', 1440)) as tf(name, minutes)
     cross join lateral (
       select c.close, c.ts + tf.minutes * interval '1 minute' as closed_at from candles c
        where c.exchange_id = $11 and c.symbol = $6::text || '/' || $10::text
          and c.timeframe = tf.name and c.ts <= t.at - tf.minutes * interval '1 minute'
        order by c.ts desc limit 1) c
     order by c.closed_at desc limit 1) end`;

/** A fill as recorded: its `exchange_trade_id` is the trade's id or a cumulative key. */
export type RecordedFill = Fill & { id: string };

/**
 * How an execution recorded from cumulative totals is keyed: the prefix, then the order's
 * cumulative quantity once it is recorded ("filled:0.003"). No exchange's trade id looks so.
 */
const CUMULATIVE_KEY = "filled:";

/** One fill's execution row and ledger legs; false when the fill was already recorded. */
async function recordExecution(
  tx: Sql,
  order: OrderRow,
  f: RecordedFill,
  account: string,
): Promise<boolean> {
  const [base, quote] = order.symbol.split("/");
  const [exec] = await tx.query<{ id: number }>(
    `insert into executions (order_id, exchange_trade_id, qty, price, fee, fee_currency, executed_at,
                             account_id, fee_quote)
     values ($1, $2, $3, $4, $5, $6, $7, $8, ${FEE_QUOTE})
     on conflict (order_id, exchange_trade_id) do nothing returning id`,
    [
      order.id,
      f.id,
      f.qty,
      f.price,
      f.fee || "0",
      f.feeCurrency ?? null,
      new Date(f.ts || 0),
      order.account_id,
      base,
      quote,
      order.exchange_id,
      f.ts ? new Date(f.ts) : null,
    ],
  );
  if (!exec) return false;
  const sign = order.side === "buy" ? 1 : -1;
  // Base, quote and fee legs in one statement; the fee leg only when there is a fee.
  await tx.query(
    `insert into transactions (exchange_id, account, asset, amount, kind, order_id, execution_id,
                               account_id)
     select $1, $2, v.asset, v.amount, v.kind, $8, $9, $12 from (values
       ($3, $5::numeric * $7, 'trade'),
       ($4, -$5::numeric * $6::numeric * $7, 'trade'),
       ($10, -$11::numeric, 'fee')) as v(asset, amount, kind)
      where v.asset is not null and v.amount <> 0`,
    [
      order.exchange_id,
      account,
      base,
      quote,
      f.qty,
      f.price,
      sign,
      order.id,
      exec.id,
      f.feeCurrency ?? null,
      f.fee || "0",
      order.account_id,
    ],
  );
  return true;
}

/**
 * Records what a cumulative view of the order — all its trades as the exchange shows them now,
 * or the order's own totals as one — adds up to beyond its stored executions, as one execution:
 * the quantity beyond, at the price that makes the stored cost the view's, with the fee beyond
 * in the currency of the view's latest fee (a second currency's fee within one order is not
 * split out). Keyed by the cumulative quantity, so the same view recorded twice is one row;
 * the view is never smaller than what was stored from an earlier, true view, so nothing is
 * counted twice. Null when the view shows nothing new (a stale or smaller view included).
 */
async function recordBeyond(
  tx: Sql,
  order: OrderRow,
  view: Fill[],
  account: string,
): Promise<RecordedFill | null> {
  if (view.length === 0) return null;
  const feeCurrency = view.findLast((f) => Number(f.fee) !== 0 && f.feeCurrency)?.feeCurrency ??
    view.findLast((f) => f.feeCurrency)?.feeCurrency;
  const [beyond] = await tx.query<{ id: string; qty: string; price: string; fee: string }>(
    `with v as (
       select sum(q) as qty, sum(q * p) as cost,
              coalesce(sum(f) filter (where c is not distinct from $5::text), 0) as fee
         from unnest($2::numeric[], $3::numeric[], $4::numeric[], $6::text[]) as x(q, p, f, c)),
     s as (
       select coalesce(sum(qty), 0) as qty, coalesce(sum(qty * price), 0) as cost,
              coalesce(sum(fee) filter (where fee_currency is not distinct from $5::text), 0) as fee
         from executions where order_id = $1)
     select $7 || trim_scale(v.qty)::text as id, (v.qty - s.qty)::text as qty,
            trim_scale(round(case when v.cost > s.cost then (v.cost - s.cost) / (v.qty - s.qty)
                                  else v.cost / v.qty end, 18))::text as price,
            (v.fee - s.fee)::text as fee
       from v, s where v.qty > s.qty`,
    [
      order.id,
      view.map((f) => f.qty),
      view.map((f) => f.price),
      view.map((f) => f.fee || "0"),
      feeCurrency ?? null,
      view.map((f) => f.feeCurrency ?? null),
      CUMULATIVE_KEY,
    ],
  );
  if (!beyond) return null;
  const last = view.reduce((ts, f) => Math.max(ts, f.ts || 0), 0);
  const fill: RecordedFill = {
    id: beyond.id,
    orderId: view[0].orderId,
    clientOrderId: order.client_order_id,
    symbol: order.symbol,
    side: order.side,
    qty: beyond.qty,
    price: beyond.price,
    fee: beyond.fee,
    feeCurrency,
    ts: last || Date.now(),
  };
  return await recordExecution(tx, order, fill, account) ? fill : null;
}

/**
 * A protective stop placed after its previous attempt was cancelled — replaced because a
 * trailing stop, break even or a second buy moved it, or put back after someone cancelled it
 * (that one was a WARN already): routine, so its placement is not told again. The first stop
 * of a position, and one placed after a refusal, are.
 */
async function replacesCancelledStop(tx: Sql, order: OrderRow): Promise<boolean> {
  if (order.purpose !== "stop_loss") return false;
  const [previous] = await tx.query<{ status: string }>(
    `select status from orders where account_id = $1 and idempotency_key = $2 and id < $3
      order by id desc limit 1`,
    [order.account_id, order.idempotency_key, order.id],
  );
  return previous?.status === "CANCELED";
}

/**
 * A buy added to an open position ($16: the alert's own trail_pct). The position keeps its
 * trail unless the alert sets one (a position without one takes the entry's). The stop of a
 * trailing position, or of a ladder past its first slice (at break even), never moves down: a
 * raised stop above the new entry's stop stays.
 */
const TRAIL_ON_ADD = `
  trail_pct = coalesce($16::numeric, positions.trail_pct, excluded.trail_pct),
  trail_activation_pct = case
    when $16::numeric is not null or positions.trail_pct is null
      then excluded.trail_activation_pct
    else positions.trail_activation_pct end,
  high_water_price = greatest(positions.high_water_price, excluded.high_water_price),
  stop_price = case
    when coalesce($16::numeric, positions.trail_pct, excluded.trail_pct) is not null
         or positions.tp_ladder_filled > 0
      then greatest(excluded.stop_price, positions.stop_price)
    else coalesce(excluded.stop_price, positions.stop_price) end,`;

/**
 * One fill's change to the open position, and the order's link to it, in one statement. It is
 * the last statement before commit: concurrent fills of one symbol queue on the position row,
 * so the lock is held as briefly as possible.
 */
export async function applyToPosition(
  tx: Sql,
  order: OrderRow,
  f: RecordedFill,
): Promise<void> {
  const base = order.symbol.split("/")[0];
  // The fee in quote terms, as recorded with the fill's execution (FEE_QUOTE: 0 when a third
  // asset had no price, and that asset is kept in unpriced_fee_assets); a fee taken in the base
  // asset reduces what is held.
  const fill = (o: number, t: number) =>
    `from executions e where e.order_id = $${o} and e.exchange_trade_id = $${t}`;
  const feeQuote = (o: number, t: number) => `coalesce((select e.fee_quote ${fill(o, t)}), 0)`;
  const unpriced = (o: number, t: number) =>
    `array(select coalesce(e.fee_currency, '?') ${fill(o, t)} and e.fee <> 0
              and e.fee_quote is null)`;
  const union = (a: string, b: string) =>
    `array(select distinct x from unnest(${a} || ${b}) x order by 1)`;
  const link = (n: number) =>
    `update orders set position_id = coalesce(orders.position_id, p.id) from p where orders.id = $${n}`;
  if (order.side === "buy") {
    const unpricedOnAdd = union("positions.unpriced_fee_assets", "excluded.unpriced_fee_assets");
    await tx.query(
      // A second buy into an open position keeps the position's take-profit ladder as first
      // planned: the slices still to fill sell their planned quantities and the last one sells
      // everything held, the added quantity included (never more than held, never unsellable).
      `with p as (insert into positions (exchange_id, symbol, qty, avg_entry_price, stop_price,
                              take_profit_price, fees, entry_fees, strategy, account_id, trail_pct,
                              trail_activation_pct, high_water_price, tp_ladder,
                              unpriced_fee_assets)
       values ($1, $6, $2::numeric - case when $5::text = $10 then $4::numeric else 0 end,
               $3, $7, $8, ${feeQuote(12, 11)}, ${feeQuote(12, 11)}, $9, $13, $14,
               coalesce($15::numeric, 0), $3, $17::jsonb, ${unpriced(12, 11)})
       on conflict (account_id, exchange_id, symbol) where status = 'OPEN' do update set
         avg_entry_price = (positions.qty * coalesce(positions.avg_entry_price, 0)
                            + excluded.qty * excluded.avg_entry_price)
                           / nullif(positions.qty + excluded.qty, 0),
         qty = positions.qty + excluded.qty,
         fees = positions.fees + excluded.fees,
         entry_fees = positions.entry_fees + excluded.entry_fees,
         unpriced_fee_assets = ${unpricedOnAdd},
         ${TRAIL_ON_ADD}
         take_profit_price = coalesce(excluded.take_profit_price, positions.take_profit_price),
         updated_at = now()
       returning id) ${link(12)}`,
      [
        order.exchange_id,
        f.qty,
        f.price,
        f.fee || "0",
        f.feeCurrency ?? null,
        order.symbol,
        order.stop_price ?? order.decision?.sl ?? null,
        order.decision?.tp ?? null,
        order.strategy,
        base,
        f.id,
        order.id,
        order.account_id,
        order.decision?.trail_pct ?? null,
        order.decision?.trail_activation_pct ?? null,
        order.decision?.trailPct ?? null,
        order.decision?.ladder ? JSON.stringify(order.decision.ladder) : null,
      ],
    );
  } else {
    // What a sell leaves below the market's step (a buy's commission taken in the base: 0.01234
    // bought, 0.01232766 held, 0.01232 sold) can never be sold: the position is closed, the
    // dust stays in the balance (and in the ledger) and in the closed position's qty. The sell
    // realizes its share of the entry fees: the part it sells, or all of them when it closes.
    const closes = "(qty - $2::numeric <= 0 or qty - $2::numeric < r.step)";
    const share = `(case when ${closes} then 1 else $2::numeric / qty end)`;
    await tx.query(
      `with r as (select coalesce((select nullif(ei.trading_rules ->> 'step_size', '')::numeric
                                     from exchange_instruments ei
                                     join instruments i on i.id = ei.instrument_id
                                    where ei.exchange_id = $1 and i.symbol = $4), 0) as step),
       p as (update positions set
         qty = greatest(qty - $2::numeric, 0),
         realized_pnl = realized_pnl + $2::numeric * ($3::numeric - coalesce(avg_entry_price, $3::numeric))
                        - ${feeQuote(5, 7)} - entry_fees * ${share},
         entry_fees = entry_fees - entry_fees * ${share},
         fees = fees + ${feeQuote(5, 7)},
         unpriced_fee_assets = ${union("unpriced_fee_assets", unpriced(5, 7))},
         status = case when ${closes} then 'CLOSED' else 'OPEN' end,
         closed_at = case when ${closes} then now() end,
         updated_at = now()
         from r
       where account_id = $6 and exchange_id = $1 and symbol = $4 and status = 'OPEN'
       returning positions.id) ${link(5)}`,
      [
        order.exchange_id,
        f.qty,
        f.price,
        order.symbol,
        order.id,
        order.account_id,
        f.id,
      ],
    );
  }
}

/**
 * Brings the order row in line with the exchange's view and records new fills. Returns the
 * new status. Notifies a fill (INFO) once, when the order becomes FILLED.
 */
export async function applyExchangeOrder(
  tx: Sql,
  order: OrderRow,
  ex: ExchangeOrder,
  fills: Fill[],
  account: string,
  /** When given, position changes are collected here for the caller to apply last. */
  deferredPositions?: Array<{ order: OrderRow; fill: RecordedFill }>,
): Promise<string> {
  const mine = fills.filter((f) =>
    (ex.id !== "" && f.orderId === ex.id) || f.clientOrderId === order.client_order_id
  );
  // The order's row first: two applications of its evidence never work out what is new from the
  // same stored executions. It holds how many lookups in a row found the order filled beyond
  // the trades shown (reconcile_misses of an active order; of a NEW or UNKNOWN one, it counts
  // "not found" answers), and what its executions held before this one. Nothing to record (no
  // trade, nothing filled): not read at all.
  const filled = ex.filled || "0";
  const [held] = mine.length > 0 || dec.cmp(filled, "0") > 0
    ? await tx.query<{ status: string; misses: number; cumulative: boolean; stored: string }>(
      `select status, reconcile_misses as misses,
              exists(select 1 from executions e
                      where e.order_id = orders.id and starts_with(e.exchange_trade_id, $2))
                as cumulative,
              (select coalesce(sum(e.qty), 0)::text from executions e
                where e.order_id = orders.id) as stored
         from orders where id = $1 for update`,
      [order.id, CUMULATIVE_KEY],
    )
    : [undefined];
  const recorded: RecordedFill[] = [];
  const add = (f: RecordedFill | null) => {
    if (f) recorded.push(f);
  };
  if (held?.cumulative || mine.some((f) => !f.id)) {
    // Trades without ids, or an order already recorded from its totals (whose trades, ids or
    // not, cannot be told from those totals): only what the trades add up to beyond is new.
    add(await recordBeyond(tx, order, mine, account));
  } else {
    for (const f of mine as RecordedFill[]) {
      if (await recordExecution(tx, order, f, account)) recorded.push(f);
    }
  }
  // Filled beyond the trades shown (none shown at all, or not all yet): from the order's own
  // totals, at once when it states its fee; else after a few lookups, so trades that are late to
  // show (with their fees) are still recorded from the trades.
  const short = held !== undefined &&
    dec.cmp(filled, recorded.reduce((sum, f) => dec.add(sum, f.qty), held.stored)) > 0;
  let untraded = 0;
  if (short && held) {
    untraded = (["OPEN", "PARTIALLY_FILLED"].includes(held.status) ? Number(held.misses) : 0) + 1;
    if (ex.avgPrice && (ex.fee || untraded >= limits.untradedFillLookups)) {
      const totals: Fill = {
        orderId: ex.id,
        symbol: order.symbol,
        side: order.side,
        qty: ex.filled,
        price: ex.avgPrice,
        fee: ex.fee?.cost ?? "0",
        feeCurrency: ex.fee?.currency,
        ts: 0,
      };
      add(await recordBeyond(tx, order, [totals], account));
      untraded = 0;
    }
  }
  // Totals from the stored executions, the order row and its alert in one statement; for a
  // buy with a new fill, also whether an exit asked for its cancel (exit_fills.ts decides, in a
  // statement of its own that sees what committed while this one waited for the row).
  const [sum] = await tx.query<{
    status: string;
    filled: string;
    avg: string | null;
    fee: string;
    cur: string | null;
    fee_quote: string | null;
    unpriced: boolean | null;
    exit_asked: boolean | null;
  }>(
    `with s as (
       select coalesce(sum(qty), 0) as filled, sum(qty * price) / nullif(sum(qty), 0) as avg,
              coalesce(sum(fee), 0) as fee, max(fee_currency) as cur,
              sum(fee_quote) as fee_quote, bool_or(fee <> 0 and fee_quote is null) as unpriced
         from executions where order_id = $1),
     o as (
       update orders set
         status = case when s.filled >= $4::numeric then $2 else $3 end,
         exchange_order_id = coalesce(nullif($5, ''), orders.exchange_order_id),
         filled_qty = s.filled, avg_fill_price = s.avg, fee = s.fee,
         fee_currency = s.cur, reconcile_misses = $7, checked_at = now(),
         submitted_at = coalesce(submitted_at, now()), updated_at = now(),
         reject_reason = case when $2 = 'REJECTED'
                              then coalesce(reject_reason, 'Rejected by the exchange') end
         from s where orders.id = $1
       returning orders.status, orders.alert_id),
     a as (
       update inbound_alerts set processed_at = now(),
              status = case when o.status = 'REJECTED' then 'REJECTED' else 'EXECUTED' end,
              error = case when o.status = 'REJECTED' then 'Rejected by the exchange' else error end
         from o where inbound_alerts.id = o.alert_id and inbound_alerts.status = 'PROCESSING')
     select o.status, s.filled::text, s.avg::text, s.fee::text, s.cur, s.fee_quote::text,
            s.unpriced,
            $6 and exists (select 1 from cancel_requests c
                            where c.order_id = $1 and c.requested_by like 'exit:alert %')
              as exit_asked
       from o, s`,
    [
      order.id,
      statusOf(ex, true),
      statusOf(ex, false),
      ex.filled || "0",
      ex.id,
      order.side === "buy" && recorded.length > 0,
      untraded,
    ],
  );
  // An order found after it was given up as never placed (REJECTED) is told by the
  // reconciler's one message about it (reconcile.ts), neither as placed nor as filled after exit.
  const foundLate = order.status === "REJECTED";
  if (sum.exit_asked && !foundLate) await tellFillAfterExit(tx, order.id);
  const status = sum.status;
  if (status === "FILLED" && order.status !== "FILLED") {
    await enqueueNotification(tx, {
      severity: "INFO",
      kind: NotificationKind.orderFilled,
      text: `${tagOf(order)}${await fillText(tx, order, sum)} — order ${order.client_order_id}`,
      dedupeKey: `order:${order.client_order_id}:filled`,
      accountId: order.account_id,
    });
  } else if (
    isActiveOrderStatus(status) && !["OPEN", "PARTIALLY_FILLED"].includes(order.status) &&
    !foundLate && !await replacesCancelledStop(tx, order)
  ) {
    await enqueueNotification(tx, {
      severity: "INFO",
      kind: NotificationKind.orderPlaced,
      text: `${tagOf(order)}Order placed: ${order.type} ${order.side} ${order.qty} ${order.symbol}${
        order.decision?.sizing ? ` (${order.decision.sizing})` : ""
      } — order ${order.client_order_id}`,
      dedupeKey: `order:${order.client_order_id}:placed`,
      accountId: order.account_id,
    });
  }
  if (deferredPositions) {
    for (const fill of recorded) deferredPositions.push({ order, fill });
  } else {
    for (const f of recorded) await applyToPosition(tx, order, f);
  }
  return status;
}

const n = (v: number, digits = 8) => Number(v.toFixed(digits)).toString();

function duration(ms: number): string {
  const min = Math.max(0, Math.round(ms / 60_000));
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  return h < 48 ? `${h} h ${min % 60} min` : `${Math.floor(h / 24)} d ${h % 24} h`;
}

/**
 * A fill as a person reads it. An entry: quantity, price, notional, fee, stop, target and the
 * amount at risk down to the stop. An exit: the PnL in quote and percent (after this sell's
 * fee), how long the position was held, and why (signal, stop-loss, target, operator). A fee in
 * a third asset (BNB) is shown with its value in the quote ("fee 0.0012 BNB ≈ 0.74 USDT"), or,
 * with no price known at the fill, as left out of the PnL.
 */
async function fillText(
  tx: Sql,
  order: OrderRow,
  sum: {
    filled: string;
    avg: string | null;
    fee: string;
    cur: string | null;
    fee_quote: string | null;
    unpriced: boolean | null;
  },
): Promise<string> {
  const [base, quote] = order.symbol.split("/");
  const qty = Number(sum.filled);
  const avg = Number(sum.avg);
  const fee = Number(sum.fee);
  const third = fee !== 0 && sum.cur !== quote && sum.cur !== base;
  const feeQuote = sum.cur === quote
    ? fee
    : sum.cur === base
    ? fee * avg
    : sum.unpriced
    ? 0
    : Number(sum.fee_quote ?? 0);
  const unpricedText = (what: string) =>
    `no ${sum.cur ?? "fee asset"}/${quote} price known at the fill: ${what} excludes it`;
  const feeText = `fee ${n(fee)} ${sum.cur ?? ""}`.trim() +
    (!third ? "" : sum.unpriced ? "" : ` ≈ ${n(feeQuote)} ${quote}`);
  if (order.side === "buy") {
    const stop = Number(order.stop_price ?? order.decision?.sl ?? NaN);
    const target = order.decision?.tp;
    const ladder = order.decision?.ladder;
    const risk = Number.isFinite(stop) ? qty * (avg - stop) + feeQuote : undefined;
    return `Bought ${n(qty)} ${order.symbol} at ${n(avg)}: ${
      n(qty * avg, 2)
    } ${quote}, ${feeText}` +
      (third && sum.unpriced ? ` (${unpricedText("the position's PnL")})` : "") +
      `; stop ${Number.isFinite(stop) ? n(stop) : "none"}, ${
        ladder?.length
          ? `targets ${ladderText(ladder)}`
          : `target ${target ? n(Number(target)) : "none"}`
      }` +
      (risk === undefined ? "" : `, at risk ${n(risk, 2)} ${quote}`) +
      (order.decision?.sizing ? `; ${order.decision.sizing}` : "");
  }
  // The position as it was before this transaction's fills (they are applied last): a sell's
  // share of the entry fees is its quantity at their rate per unit held, which sells do not move.
  const [ctx] = await tx.query<{
    entry: string | null;
    entry_fee: string | null;
    unpriced: string | null;
    opened_at: Date | null;
    source: string | null;
    why: string | null;
  }>(
    `select p.avg_entry_price::text as entry,
            (p.entry_fees / nullif(p.qty, 0))::text as entry_fee,
            array_to_string(p.unpriced_fee_assets, ', ') as unpriced, p.opened_at,
            (select a.source from inbound_alerts a where a.id = $4) as source,
            (select r.kind from risk_actions r where r.alert_id = $4 limit 1) as why
       from (select 1) one
       left join lateral (
         select * from positions p
          where p.account_id = $1 and p.exchange_id = $2 and p.symbol = $3
          order by (p.status = 'OPEN') desc, p.id desc limit 1) p on true`,
    [order.account_id, order.exchange_id, order.symbol, order.alert_id],
  );
  const why = order.purpose === "stop_loss"
    ? "stop-loss on the exchange"
    : ctx?.why === "stop_loss"
    ? "stop-loss"
    : ctx?.why === "take_profit"
    ? "target"
    : ctx?.why === "exit"
    ? "operator"
    : ctx?.why ?? (ctx?.source ? `signal (${ctx.source})` : "order");
  const entry = Number(ctx?.entry ?? NaN);
  const entryFees = qty * Number(ctx?.entry_fee ?? 0);
  const pnl = Number.isFinite(entry) ? qty * (avg - entry) - feeQuote - entryFees : undefined;
  // Fees that had no price at their fill are not in the PnL: the entry's (kept on the position)
  // and this sell's own.
  const excluded = [
    ...new Set([
      ...(ctx?.unpriced ? ctx.unpriced.split(", ") : []),
      ...(third && sum.unpriced ? [sum.cur ?? "?"] : []),
    ]),
  ];
  return `Sold ${n(qty)} ${order.symbol} at ${n(avg)}: ` +
    (pnl === undefined
      ? `${feeText}`
      : `PnL ${pnl >= 0 ? "+" : ""}${n(pnl, 2)} ${quote} (${avg >= entry ? "+" : ""}${
        n((avg / entry - 1) * 100, 2)
      } %)${
        excluded.length
          ? ` excluding the fees in ${excluded.join(", ")} (no price in ${quote} known at ` +
            "their fill)"
          : ""
      }, ${feeText}`) +
    (ctx?.opened_at ? `, held ${duration(Date.now() - new Date(ctx.opened_at).getTime())}` : "") +
    `; why: ${why}`;
}

/** The slices of a ladder as a person reads them: "0.5 at 104, the rest at 108". */
const ladderText = (slices: readonly LadderSlice[]) =>
  slices.map((sl, i) =>
    `${i === slices.length - 1 && i > 0 ? "the rest" : n(Number(sl.qty))} at ${n(Number(sl.price))}`
  ).join(", ");

/** Marks an order rejected (before or by the exchange), its alert too, and notifies WARN. */
export async function rejectOrder(
  tx: Sql,
  order: Pick<
    OrderRow,
    "id" | "client_order_id" | "alert_id" | "symbol" | "side" | "account_id" | "account_name"
  >,
  reason: string,
  alertStatus: "REJECTED" | "FAILED" = "REJECTED",
): Promise<void> {
  await markRejected(tx, order.id, reason);
  if (order.alert_id !== null) {
    await tx.query(
      `update inbound_alerts set status = $2, error = $3, processed_at = now()
        where id = $1 and status = 'PROCESSING'`,
      [order.alert_id, alertStatus, reason],
    );
  }
  await enqueueNotification(tx, {
    severity: "WARN",
    kind: NotificationKind.orderRejected,
    text: `${tagOf(order)}Order ${order.client_order_id} (${order.side} ${order.symbol}) ` +
      `rejected: ${reason}`,
    dedupeKey: `order:${order.client_order_id}:rejected`,
    accountId: order.account_id,
  });
}
