/**
 * An open position the exchange holds less of than recorded: a fee the exchange took in the
 * base without reporting it (an order recorded from its totals, order_updates.ts), coins moved
 * or sold outside the service. Every sell of the recorded quantity — the exit, the protective
 * stop — would be refused for the balance, for good: the position could be neither closed nor
 * protected on the exchange. It is written down to what the exchange holds, once that is
 * certain, and the operator is told (WARN `holdings_short`): the position's quantity, an
 * `adjustment` leg in the ledger for the base that is gone (so the ledger matches the
 * exchange again), and its cost (at the entry price) out of the realized PnL. Leg and cost are
 * only for what the ledger does not show gone already: fees in the asset (BNB) that other
 * markets' fills paid out of the position are booked, and charged to those fills' positions,
 * and a paper account's balance is its ledger. A position left with less than one step of the
 * market is closed: nothing of it can be sold.
 *
 * Certain means no order of the account could still explain the difference: the balance is
 * read after a moment `t0`, and the write-down is refused when, at the write, any order of the
 * account on a market of that asset (on any market, once the asset has paid another market's
 * fees) is active (a fill not recorded yet), was changed since `t0` (an order recorded and
 * filled meanwhile), or was given up as never placed within the last day, or refused with a
 * code nobody knows and still rechecked (either may still turn up filled: reconcile.ts; its
 * fill would reduce the position a second time), when the position itself changed since `t0`,
 * or when another open position of the account involves the asset (the balance is not this
 * position's alone).
 */
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import type { Db } from "../db/mod.ts";
import type { Exchange } from "../exchange/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { dec } from "../trading/decimal.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";
import { type Account, accountTag, ledgerBook } from "./accounts.ts";
import { NEVER_PLACED } from "./reconcile.ts";

export interface WriteDown {
  positionId: number;
  /** The quantity recorded before, and what the exchange holds (the position's now). */
  recorded: string;
  held: string;
  closed: boolean;
}

/**
 * Whether a balance snapshot shows the exchange holding less of `base` than the account's open
 * positions record (`positionsQty`, their sum): the cheap test before writeDownToHoldings.
 */
export function holdsLess(total: string | undefined, positionsQty: string | number): boolean {
  return total !== undefined && dec.cmp(total, String(positionsQty)) < 0;
}

/**
 * Writes the account's open position of `symbol` down to what the exchange holds of its base,
 * when that is less and certain (see above); undefined when nothing was written.
 */
export async function writeDownToHoldings(
  deps: { db: Db; exchange: Exchange; account: Account; log: Log },
  symbol: string,
): Promise<WriteDown | undefined> {
  const { db, exchange, account, log } = deps;
  const base = symbol.split("/")[0];
  const [{ t0 }] = await db.query<{ t0: Date }>("select clock_timestamp() as t0");
  const held = (await exchange.fetchBalance())[base]?.total;
  // An asset the exchange does not list at all is not taken for none of it.
  if (held === undefined || !/^\d+(\.\d+)?$/.test(held)) return undefined;
  return await db.transaction(async (tx) => {
    const [p] = await tx.query<
      {
        id: number;
        qty: string;
        step: string | null;
        settled: boolean;
        busy: boolean;
        booked: string;
      }
    >(
      `with fee_asset as (
         -- The asset paid other markets' fees (BNB): any order of the account may take some.
         select exists (select 1 from transactions f join orders fo on fo.id = f.order_id
                         where f.account_id = $1 and f.exchange_id = $2 and f.kind = 'fee'
                           and f.asset = $5
                           and $5 not in (split_part(fo.symbol, '/', 1),
                                          split_part(fo.symbol, '/', 2))) as used)
       select p.id, p.qty::text, p.updated_at < $4 as settled,
              (select coalesce(sum(t.amount), 0)::text from transactions t
                where t.account_id = p.account_id and t.exchange_id = p.exchange_id
                  and t.account = $7 and t.asset = $5) as booked,
              (select ei.trading_rules ->> 'step_size' from exchange_instruments ei
                 join instruments i on i.id = ei.instrument_id
                where ei.exchange_id = p.exchange_id and i.symbol = p.symbol) as step,
              exists (select 1 from orders o
                       where o.account_id = p.account_id and o.exchange_id = p.exchange_id
                         and ($5 in (split_part(o.symbol, '/', 1), split_part(o.symbol, '/', 2))
                              or (select used from fee_asset))
                         and (o.status in ${ACTIVE_ORDER_STATUSES_SQL} or o.updated_at >= $4
                              or (left(o.reject_reason, length($8)) = $8
                                  and o.updated_at > now() - interval '1 day')
                              or (o.status = 'REJECTED' and o.reconcile_misses > 0
                                  and o.created_at >= now() - $6::int * interval '1 millisecond')))
              or exists (select 1 from positions q
                          where q.account_id = p.account_id and q.exchange_id = p.exchange_id
                            and q.status = 'OPEN' and q.id <> p.id
                            and $5 in (split_part(q.symbol, '/', 1), split_part(q.symbol, '/', 2)))
                as busy
         from positions p
        where p.account_id = $1 and p.exchange_id = $2 and p.symbol = $3 and p.status = 'OPEN'
          and p.qty > 0
        for update of p`,
      [
        account.id,
        exchange.id,
        symbol,
        t0,
        base,
        limits.reconcileGivenUpWindowMs,
        ledgerBook(exchange.mode),
        NEVER_PLACED,
      ],
    );
    if (!p || !p.settled || p.busy || dec.cmp(held, p.qty) >= 0) return undefined;
    const gone = dec.sub(p.qty, held);
    // What of it the ledger does not show gone yet: the fees other fills paid out of the asset
    // (BNB) are booked already, as fee legs, and charged to those fills' positions; a paper
    // account's balance is its ledger. Only the rest is an adjustment leg and a cost here.
    const beyond = dec.sub(p.booked, held);
    const unbooked = dec.cmp(beyond, "0") <= 0 ? "0" : dec.cmp(beyond, gone) < 0 ? beyond : gone;
    const closed = dec.cmp(held, "0") <= 0 || (p.step !== null && dec.cmp(held, p.step) < 0);
    await tx.query(
      `update positions set
         qty = $2,
         realized_pnl = realized_pnl - $3::numeric * coalesce(avg_entry_price, 0)
                        - case when $4 then entry_fees else 0 end,
         entry_fees = case when $4 then 0 else entry_fees end,
         status = case when $4 then 'CLOSED' else status end,
         closed_at = case when $4 then now() else closed_at end,
         updated_at = now()
       where id = $1`,
      [p.id, held, unbooked, closed],
    );
    if (dec.cmp(unbooked, "0") > 0) {
      await tx.query(
        `insert into transactions (exchange_id, account, asset, amount, kind, note, account_id)
         values ($1, $2, $3, $4, 'adjustment', $5, $6)`,
        [
          exchange.id,
          ledgerBook(exchange.mode),
          base,
          dec.sub("0", unbooked),
          `position ${p.id}: the exchange holds ${held} of the ${dec.normalize(p.qty)} recorded`,
          account.id,
        ],
      );
    }
    const unreported = "a fee the exchange took without reporting it, or coins moved outside " +
      "the service";
    const feesBooked = `fees in ${base} that other fills paid out of it, already in the ledger`;
    const why = dec.cmp(unbooked, gone) === 0
      ? unreported
      : dec.cmp(unbooked, "0") === 0
      ? feesBooked
      : `${dec.normalize(dec.sub(gone, unbooked))} of it ${feesBooked}; the rest ${unreported}`;
    const what = `${accountTag(account)}Position ${p.id} of ${symbol} recorded ${
      dec.normalize(p.qty)
    } ${base}, but the exchange holds ${dec.normalize(held)}: written down by ${
      dec.normalize(gone)
    } (${why})`;
    await enqueueNotification(tx, {
      severity: "WARN",
      kind: NotificationKind.holdingsShort,
      text: closed
        ? `${what}; closed, as less than one step of the market is left`
        : `${what}; its stop and exits now sell what is held`,
      dedupeKey: `position:${p.id}:holdings-short:${dec.normalize(held)}`,
      accountId: account.id,
    });
    log.warn("Position {position} of {symbol} written down from {recorded} to {held} held", {
      position: p.id,
      symbol,
      recorded: p.qty,
      held,
    });
    return { positionId: p.id, recorded: dec.normalize(p.qty), held: dec.normalize(held), closed };
  });
}
