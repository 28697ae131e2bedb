/**
 * Protective stops on the exchange (live, sandbox and paper accounts): every open position with a
 * stop gets a STOP_LOSS_LIMIT sell of the quantity held (less what resting limit sells of it
 * hold) resting on the exchange, so it is
 * protected while `serve` is down (a paper stop rests in the paper broker and is evaluated
 * while serve runs, paper_broker.ts). Each attempt is recorded (an `orders` row, purpose stop_loss, and a
 * PLANNED `risk_actions` row) BEFORE the create call, under its own deterministic client order
 * id (the position's key and an attempt number), and is settled like every order: UNKNOWN on a
 * lost answer, then only from the exchange's evidence (reconcile.ts). A stop cancelled or
 * expired on the exchange while its position is open is placed again (WARN) on the next pass;
 * a stop refused for good leaves the software watch as the backstop (one CRITICAL). A filled
 * stop closes the position through the usual fill path (order_updates.ts).
 *
 * A resting stop that no longer matches its position — below the position's stop (a trailing
 * stop raised it, risk/trailing.ts) or of another quantity than held (a second buy) — is
 * replaced: its cancel is requested (cancel_requests, 'protect:replace', sent by cancels.ts),
 * and once the exchange's word has it CANCELED the next pass places the position's stop under
 * the next attempt number. Never two at once: the new attempt waits for the old one to end. If
 * the old stop filled instead, the position is closed from that fill and nothing is placed.
 *
 * Everything is read from the database each pass, never kept in memory, so a restart finds
 * every position and its protection as they are; a paper account's stop makes the same rows.
 */
import { errorMessage } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import { type Db, isCheckViolation, isUniqueViolation, type Sql } from "../db/mod.ts";
import type { Balance, Exchange } from "../exchange/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { dec } from "../trading/decimal.ts";
import { ACTIVE_ORDER_STATUSES_SQL, OTHER_SELLING_SQL } from "../trading/statuses.ts";
import { type Account, accountTag, DEFAULT_ACCOUNT_ID, ledgerBook } from "./accounts.ts";
import type { TradingRules } from "./markets.ts";
import { holdsLess, writeDownToHoldings } from "./holdings.ts";
import { applyExchangeOrder, ORDER_COLUMNS, type OrderRow, rejectOrder } from "./order_updates.ts";
import * as orders from "./orders_sql.ts";
import { createFailure } from "./outcome.ts";
import { clientOrderIdPrefix, DEFAULT_STOP_LIMIT_OFFSET_PCT, stopLimitPrice } from "./plan.ts";

/** Who asks for the cancel of a resting stop that no longer matches its position. */
export const REPLACE_REQUESTER = "protect:replace";

/** A protective action is the Risk row of an order on the exchange: it has no alert. */
export const PROTECTIVE_ACTION_SQL = "r.alert_id is null and r.order_id is not null";

export interface ProtectDeps {
  db: Db;
  exchange: Exchange;
  account: Account;
  log: Log;
  /** Client order ids whose create call is in flight in this process: not reconciled yet. */
  inFlight: Set<string>;
  /** How far (%) below the stop its limit sits, so a gap still fills. */
  stopLimitOffsetPct?: number;
}

export interface ProtectSummary {
  placed: number;
  refused: number;
  /** Protective actions settled from their order's end (filled, cancelled, expired). */
  settled: number;
  /** Resting stops whose cancel was asked for, to be replaced by the position's own. */
  replacing: number;
}

/**
 * The key of a position's protective stop; attempts are numbered in its client order id. A
 * stop that sold part of the position and then ended (expired, cancelled) used its key up: the
 * order guard takes no new order on a key that has a fill. The rest is protected under a key
 * of its own, one per such stop (`filledStops`: how many of the position's stops have fills).
 */
export const protectiveKey = (p: { id: number; opened_at: Date; filled_stops?: number }) =>
  `protect:stop:${p.id}:${new Date(p.opened_at).getTime()}` +
  (p.filled_stops ? `:${p.filled_stops}` : "");

/**
 * The stop-limit of a position: the quantity held truncated to the step, the stop as recorded
 * (already rounded up to the tick), and the limit `offsetPct` below it rounded down to the tick.
 */
export function protectiveOrder(
  p: { qty: string; stop_price: string },
  rules: TradingRules,
  offsetPct: number,
): { qty: string; stopPrice: string; limitPrice: string } {
  const qty = rules.step_size ? dec.floorToStep(p.qty, rules.step_size) : dec.normalize(p.qty);
  const limitPrice = stopLimitPrice(p.stop_price, rules, offsetPct);
  return { qty, stopPrice: dec.normalize(p.stop_price), limitPrice };
}

/** Whether a stop-limit meets the market's minimum quantity and notional (at its limit). */
function placeable(o: { qty: string; limitPrice: string }, rules: TradingRules): boolean {
  if (rules.min_qty && dec.cmp(o.qty, rules.min_qty) < 0) return false;
  return !rules.min_notional ||
    dec.cmp(dec.mul(o.qty, o.limitPrice, 8), rules.min_notional) >= 0;
}

/**
 * The positions told (logged) to be under their stop with no stop placed, by account and
 * position key: told once until their stop is recorded, not every pass while the price stays
 * under it; per log (the agent's is one for the process). Bounded: cleared when full (a line
 * told again).
 */
const toldUnderStopByLog = new WeakMap<Log, Set<string>>();

/** A stop given up is tried again after this long (its CRITICAL is not repeated). */
const RETRY_GIVEN_UP_MIN = 15;

interface Candidate {
  id: number;
  symbol: string;
  qty: string;
  /** The position's whole quantity (`qty` is what resting limit sells leave of it). */
  held: string;
  stop_price: string;
  strategy: string | null;
  opened_at: Date;
  /** The position's stops that sold part of it (each used its key up: protectiveKey). */
  filled_stops: number;
  /** Whether resting limit sells hold part of the position (`qty` is the rest). */
  beside_sells: boolean;
  /** Whether a buy of the symbol may still add to the position (resting, or unanswered). */
  buying: boolean;
  /** Whether the position's last stop was given up (this attempt is its retry). */
  retry: boolean;
  rules: TradingRules | null;
}

// Longer than ~80 lines: one closure over the account's exchange; settle, record and send are named inner functions.
export function createProtector(deps: ProtectDeps) {
  const { db, exchange, account, log, inFlight } = deps;
  const offsetPct = deps.stopLimitOffsetPct ?? DEFAULT_STOP_LIMIT_OFFSET_PCT;
  const book = ledgerBook(exchange.mode);
  const tag = accountTag(account);

  /**
   * PLANNED protective actions whose order ended: DONE when it filled; otherwise FAILED, and
   * while the position is still open the next step places a new attempt. A stop cancelled for
   * an exit (exit_cancel) or to be replaced (protect:replace) is expected and quiet; one
   * cancelled or expired by anyone else is a WARN.
   */
  async function settle(): Promise<number> {
    return await db.transaction(async (tx) => {
      const rows = await tx.query<{
        id: number;
        position_id: number;
        status: string;
        filled: boolean;
        client_order_id: string;
        symbol: string;
        position_open: boolean;
        for_exit: boolean;
        replaced: boolean;
      }>(
        `select r.id, r.position_id, o.status, o.filled_qty > 0 as filled, o.client_order_id,
                o.symbol, (p.status = 'OPEN' and p.qty > 0) as position_open,
                exists (select 1 from cancel_requests c where c.order_id = o.id
                         and c.requested_by like 'exit:%') as for_exit,
                exists (select 1 from cancel_requests c where c.order_id = o.id
                         and c.requested_by = '${REPLACE_REQUESTER}') as replaced
           from risk_actions r
           join orders o on o.id = r.order_id
           join positions p on p.id = r.position_id
          where r.account_id = $1 and ${PROTECTIVE_ACTION_SQL} and r.status = 'PLANNED'
            and o.status not in ${ACTIVE_ORDER_STATUSES_SQL}
          order by r.id
          for update of r skip locked`,
        [account.id],
      );
      for (const r of rows) {
        const done = r.status === "FILLED" || (r.filled && !r.position_open);
        const error = done
          ? null
          : `${r.status.toLowerCase()} on the exchange${r.replaced ? " to be replaced" : ""}`;
        await tx.query(
          `update risk_actions set status = $2, error = $3, updated_at = now() where id = $1`,
          [r.id, done ? "DONE" : "FAILED", error],
        );
        if (done || !r.position_open || r.for_exit || r.replaced || r.status === "REJECTED") {
          continue;
        }
        await enqueueNotification(tx, {
          severity: "WARN",
          kind: NotificationKind.protectiveStop,
          text:
            `${tag}Protective stop ${r.client_order_id} of ${r.symbol} (position ${r.position_id}) was ${r.status.toLowerCase()} on the exchange; placing it again`,
          dedupeKey: `order:${r.client_order_id}:protection-ended`,
          accountId: account.id,
        });
        log.warn("Protective stop {cid} was {status} on the exchange; placing it again", {
          cid: r.client_order_id,
          status: r.status,
        });
      }
      return rows.length;
    });
  }

  /**
   * Resting stops that no longer match their open position: a stop below the position's (as
   * the order guard rounds a sell's stop: up to the tick) or a quantity other than held
   * (truncated to the step). Their cancel is requested once per order; one the exchange
   * refused is asked again only after RETRY_GIVEN_UP_MIN minutes, not every pass: meanwhile the
   * resting stop still protects at its own level and the software watch at the position's
   * (risk/watch.ts: a stop that does not cover the position is no guard). Returns how many
   * were asked for.
   */
  async function requestReplacements(): Promise<number> {
    const stale = await db.query<{ id: number; client_order_id: string; position_id: number }>(
      `with s as (
         select o.id, o.client_order_id, o.position_id
           from orders o
           join positions p on p.id = o.position_id
           left join instruments i on i.symbol = p.symbol
           left join exchange_instruments ei
             on ei.exchange_id = p.exchange_id and ei.instrument_id = i.id
          where o.account_id = $1 and o.exchange_id = $2 and o.purpose = 'stop_loss'
            and o.status = 'OPEN' and p.status = 'OPEN' and p.qty > 0
            and p.stop_price is not null
            and (o.stop_price < normalize_price(p.stop_price,
                   nullif(ei.trading_rules ->> 'tick_size', '')::numeric, 'up')
                 or o.qty - o.filled_qty <> normalize_size(p.qty - ${OTHER_SELLING_SQL},
                   nullif(ei.trading_rules ->> 'step_size', '')::numeric))
            and not exists (select 1 from cancel_requests c where c.order_id = o.id
                             and (c.status <> 'FAILED'
                                  or c.updated_at > now() - interval '${RETRY_GIVEN_UP_MIN} minutes')))
       insert into cancel_requests (order_id, requested_by)
       select id, '${REPLACE_REQUESTER}' from s
       on conflict (order_id) where status = 'PENDING' do nothing
       returning order_id as id,
                 (select s.client_order_id from s where s.id = order_id) as client_order_id,
                 (select s.position_id from s where s.id = order_id) as position_id`,
      [account.id, exchange.id],
    );
    for (const o of stale) {
      log.info("Protective stop {cid} of position {position} no longer matches it: replacing it", {
        cid: o.client_order_id,
        position: o.position_id,
      });
    }
    return stale.length;
  }

  /**
   * Open positions of the account with a stop and nothing protecting them: no active protective
   * order, no market sell in flight nor a sell waiting (an exit takes over the position), and
   * something left beside resting limit sells (a take-profit limit for part of the position
   * holds its part; the stop is for the rest, `qty` here), and no attempt given
   * up in the last RETRY_GIVEN_UP_MIN minutes (the software watch protects those meanwhile; a
   * refusal that passes — the price briefly below the stop, a balance held by another order —
   * does not end the exchange's protection for the position's life).
   */
  function candidates(symbol?: string): Promise<Candidate[]> {
    return db.query<Candidate>(
      `select p.id, p.symbol, (p.qty - s.selling)::text as qty, p.qty::text as held,
              p.stop_price::text,
              p.strategy, p.opened_at, s.selling > 0 as beside_sells,
              exists (select 1 from orders b
                       where b.account_id = p.account_id and b.exchange_id = p.exchange_id
                         and b.symbol = p.symbol and b.side = 'buy'
                         and b.status in ${ACTIVE_ORDER_STATUSES_SQL}) as buying,
              coalesce((select g.params ->> 'given_up' = 'true' from risk_actions g
                         where g.position_id = p.id and g.alert_id is null
                           and g.kind = 'stop_loss'
                         order by g.id desc limit 1), false) as retry,
              (select count(*)::int from orders so
                where so.position_id = p.id and so.purpose = 'stop_loss'
                  and so.filled_qty > 0) as filled_stops,
              (select ei.trading_rules from exchange_instruments ei
                 join instruments i on i.id = ei.instrument_id
                where ei.exchange_id = p.exchange_id and i.symbol = p.symbol) as rules
         from positions p
         cross join lateral (select ${OTHER_SELLING_SQL} as selling) s
        where p.account_id = $1 and p.exchange_id = $2 and p.status = 'OPEN' and p.qty > 0
          and p.stop_price is not null and ($3::text is null or p.symbol = $3)
          and not exists (select 1 from orders o
                           where o.account_id = p.account_id and o.exchange_id = p.exchange_id
                             and o.symbol = p.symbol and o.side = 'sell'
                             and (o.purpose = 'stop_loss' or o.type = 'market')
                             and o.status in ${ACTIVE_ORDER_STATUSES_SQL})
          and p.qty > s.selling
          and not exists (select 1 from inbound_alerts a
                           where a.account_id = p.account_id
                             and a.status in ('RECEIVED', 'PROCESSING')
                             and a.decision ->> 'symbol' = p.symbol
                             and a.decision ->> 'action' = 'sell')
          and not exists (select 1 from risk_actions r
                           where r.position_id = p.id and r.status = 'PLANNED')
          and not exists (select 1 from risk_actions r
                           where r.position_id = p.id and r.alert_id is null
                             and r.params ->> 'given_up' = 'true'
                             and r.updated_at > now() - interval '${RETRY_GIVEN_UP_MIN} minutes')
        order by p.id`,
      [account.id, exchange.id, symbol ?? null],
    );
  }

  /** Records the attempt (order NEW + action PLANNED) in one transaction; null when raced. */
  async function record(
    p: Candidate,
    o: ReturnType<typeof protectiveOrder>,
  ): Promise<OrderRow | null | { invalid: string }> {
    const key = protectiveKey(p);
    const prefix = clientOrderIdPrefix(
      key,
      account.id === DEFAULT_ACCOUNT_ID ? undefined : account.name,
    );
    try {
      return await db.transaction(async (tx: Sql) => {
        const [row] = await tx.query<OrderRow>(
          `insert into orders (exchange_id, symbol, side, type, purpose, qty, price, stop_price,
                               ref_price, idempotency_key, client_order_id, strategy, position_id,
                               account_id)
           values ($1, $2, 'sell', 'stop_limit', 'stop_loss', $3, $4, $5, $5, $6,
                   $7 || '-' || ((select count(*) from orders
                                   where account_id = $10 and idempotency_key = $6) + 1),
                   $8, $9, $10)
           returning ${ORDER_COLUMNS}`,
          [
            exchange.id,
            p.symbol,
            o.qty,
            o.limitPrice,
            o.stopPrice,
            key,
            prefix,
            p.strategy,
            p.id,
            account.id,
          ],
        );
        await tx.query(
          `insert into risk_actions (position_id, kind, status, params, order_id, account_id)
           values ($1, 'stop_loss', 'PLANNED', $2, $3, $4)`,
          [
            p.id,
            JSON.stringify({
              on_exchange: true,
              stop_price: o.stopPrice,
              limit_price: o.limitPrice,
              client_order_id: row.client_order_id,
            }),
            row.id,
            account.id,
          ],
        );
        return row;
      });
    } catch (error) {
      // Another pass recorded this attempt first (one active order per key).
      if (isUniqueViolation(error)) return null;
      // A sell recorded meanwhile (an exit) holds the quantity: it takes over the position,
      // which is not a reason to give its exchange stop up.
      if (isCheckViolation(error) && /sell of .* exceeds the/.test(errorMessage(error))) {
        return null;
      }
      if (isCheckViolation(error)) return { invalid: errorMessage(error) };
      throw error;
    }
  }

  /**
   * A stop the exchange (or the database's rules) will not take: the software watch stays the
   * position's backstop, and the operator hears once that it is protected only while serve runs.
   */
  async function giveUp(tx: Sql, p: Candidate, reason: string, orderId: number | null) {
    if (orderId !== null) {
      await tx.query(
        `update risk_actions set status = 'FAILED', error = $2,
                params = params || '{"given_up": true}', updated_at = now()
          where order_id = $1 and alert_id is null`,
        [orderId, reason],
      );
    } else {
      await tx.query(
        `insert into risk_actions (position_id, kind, status, params, error, account_id)
         values ($1, 'stop_loss', 'FAILED', '{"on_exchange": true, "given_up": true}', $2, $3)`,
        [p.id, reason, account.id],
      );
    }
    await enqueueNotification(tx, {
      severity: "CRITICAL",
      kind: NotificationKind.protectionFailed,
      text: `${tag}No stop on the exchange for ${p.symbol} (position ${p.id}, stop ${
        dec.normalize(p.stop_price)
      }): ${
        reason.replace(/\.+$/, "")
      }. The position is protected only while serve runs (software stop)`,
      dedupeKey: `position:${p.id}:protection-failed`,
      accountId: account.id,
    });
    log.error("Position {position}: no stop on the exchange: {reason}", {
      position: p.id,
      reason,
    });
  }

  /** Sends one recorded attempt and applies the answer or the failure's outcome. */
  async function send(p: Candidate, row: OrderRow, o: ReturnType<typeof protectiveOrder>) {
    inFlight.add(row.client_order_id);
    try {
      const answer = await exchange.createOrder({
        symbol: p.symbol,
        side: "sell",
        type: "stop_limit",
        qty: row.qty,
        price: o.limitPrice,
        // The stop as the order row holds it (the orders trigger rounds a sell's stop up to the
        // tick), so the exchange rests exactly the stop that is recorded.
        stopPrice: row.stop_price ?? o.stopPrice,
        clientOrderId: row.client_order_id,
      });
      await db.transaction((tx) => applyExchangeOrder(tx, row, answer, answer.fills ?? [], book));
      return "placed";
    } catch (error) {
      const failure = createFailure(error);
      const reason = errorMessage(error);
      if (failure.kind === "rejected") {
        await db.transaction(async (tx) => {
          // A retry of a stop given up is quiet: the first refusal's WARN and the CRITICAL
          // told the operator, and a refusal every 15 minutes would repeat them for the
          // position's life.
          if (p.retry) await orders.markRejected(tx, row.id, reason);
          else await rejectOrder(tx, row, reason);
          if (failure.recheck) await orders.markForRecheck(tx, row.id);
          await giveUp(tx, p, reason, row.id);
        });
        return "refused";
      }
      if (failure.kind === "deferred") {
        // Never booked (429, maintenance): the next pass tries again under a new attempt.
        await db.transaction(async (tx) => {
          await orders.markNotAccepted(tx, row.id, reason);
          await tx.query(
            `update risk_actions set status = 'FAILED', error = $2, updated_at = now()
              where order_id = $1 and alert_id is null`,
            [row.id, `Not accepted: ${reason}`],
          );
        });
        throw error;
      }
      // Unknown: the stop may rest on the exchange; the reconciler settles it from evidence.
      await orders.markUnknown(db, row.id, reason);
      log.warn("Protective stop {cid} outcome unknown, to be reconciled: {error}", {
        cid: row.client_order_id,
        error: reason,
      });
      return "unknown";
    } finally {
      inFlight.delete(row.client_order_id);
    }
  }

  /**
   * Whether the price is already at or below the position's stop: the exchange would refuse
   * the stop-limit ("would trigger immediately"), and the software watch sells the position at
   * its next pass. That happens after a restart: a limit buy that filled while serve was down,
   * or a stop cancelled by hand meanwhile, with the price fallen on past the stop. One ticker
   * per symbol and pass; without a price the stop is placed as usual.
   */
  async function pastStop(p: Candidate, prices: Map<string, number | undefined>) {
    if (!prices.has(p.symbol)) {
      prices.set(
        p.symbol,
        await exchange.fetchTicker(p.symbol).then((t) => t.last, () => undefined),
      );
    }
    const last = prices.get(p.symbol);
    return last !== undefined && Number.isFinite(last) && last > 0 &&
      dec.cmp(last, p.stop_price) <= 0;
  }

  /** One pass: settle what ended, then protect what is unprotected (of one symbol, or all). */
  async function protectOnce(options: { symbol?: string } = {}): Promise<ProtectSummary> {
    const summary: ProtectSummary = {
      placed: 0,
      refused: 0,
      settled: await settle(),
      replacing: await requestReplacements(),
    };
    const prices = new Map<string, number | undefined>();
    let balances: Promise<Record<string, Balance> | undefined> | undefined;
    const queue = await candidates(options.symbol);
    const writtenDown = new Set<number>();
    for (let p = queue.shift(); p; p = queue.shift()) {
      const o = protectiveOrder(p, p.rules ?? {}, offsetPct);
      // Too little left beside resting limit sells for an order of its own (under the step, the
      // minimum quantity or the minimum notional at the limit), or too little yet of a buy that
      // still rests (its first partial fill): the software watch guards it, and no refusal is
      // raised (nor the 15 minutes' wait of a stop given up) for what was never placeable; the
      // next pass after the buy filled more places the stop of all of it.
      if (
        dec.cmp(o.qty, "0") <= 0 ||
        ((p.beside_sells || p.buying) && !placeable(o, p.rules ?? {}))
      ) continue;
      // No stop to place under the price: the software stop sells it, with no refusal, no
      // CRITICAL and no 15 minutes' wait; should the price come back first, the next pass
      // places the stop.
      const told = `${account.id}:${protectiveKey(p)}`;
      let toldUnderStop = toldUnderStopByLog.get(log);
      if (!toldUnderStop) toldUnderStopByLog.set(log, toldUnderStop = new Set());
      if (await pastStop(p, prices)) {
        if (!toldUnderStop.has(told)) {
          if (toldUnderStop.size >= 1_000) toldUnderStop.clear();
          toldUnderStop.add(told);
          log.info(
            "Position {position}: the price is at or below its stop {stop}; no stop " +
              "placed, the software stop sells it",
            { position: p.id, stop: p.stop_price },
          );
        }
        continue;
      }
      toldUnderStop.delete(told);
      // A stop of more than the exchange holds is refused for the balance, for good: the
      // position is written down to what is held first, when that is certain (holdings.ts),
      // and looked at again. The balance is read once per pass, only when a stop is placed.
      balances ??= exchange.fetchBalance().catch(() => undefined);
      if (
        !writtenDown.has(p.id) &&
        holdsLess((await balances)?.[p.symbol.split("/")[0]]?.total, p.held) &&
        await writeDownToHoldings({ db, exchange, account, log }, p.symbol)
      ) {
        writtenDown.add(p.id);
        queue.unshift(...await candidates(p.symbol));
        continue;
      }
      const recorded = await record(p, o);
      if (recorded === null) continue;
      if ("invalid" in recorded) {
        await db.transaction((tx) => giveUp(tx, p, recorded.invalid, null));
        summary.refused++;
        continue;
      }
      const outcome = await send(p, recorded, o);
      if (outcome === "refused") summary.refused++;
      else summary.placed++;
      log.info("Protective stop {cid} of position {position}: {outcome}", {
        cid: recorded.client_order_id,
        position: p.id,
        outcome,
      });
    }
    return summary;
  }

  return { protectOnce };
}
