/**
 * What a filled slice of a laddered take-profit changes on its position, in the transaction
 * that settles the slice's exit: the slice counts as filled (so no pass sells it again), and
 * after the first slice the stop moves up to break even — the entry plus the fees of both sides,
 * rounded up to the tick, and only ever up — with a DONE `breakeven` risk action and an INFO.
 * The protective stop cancelled for the slice's sell is then placed anew by the protector at the
 * position's new stop and remaining quantity.
 */
import type { Sql } from "../db/mod.ts";
import { accountTag, DEFAULT_TAKER_FEE } from "../execution/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { breakevenStop } from "../trading/ladder.ts";
import { dec } from "../trading/decimal.ts";

interface FilledPosition {
  id: number;
  account_id: number;
  account_name: string;
  symbol: string;
  open: boolean;
  qty: string;
  avg: string;
  slices: number;
  rules: { taker_fee?: string; tick_size?: string } | null;
}

/** Records slice `n` (1-based) of the position as filled; after the first, the breakeven. */
export async function sliceFilled(tx: Sql, positionId: number, n: number): Promise<void> {
  const [p] = await tx.query<FilledPosition>(
    `update positions set tp_ladder_filled = greatest(tp_ladder_filled, $2), updated_at = now()
      where id = $1
      returning id, account_id::int,
                (select a.name from accounts a where a.id = positions.account_id) as account_name,
                symbol, (status = 'OPEN' and qty > 0) as open, qty::text,
                avg_entry_price::text as avg, jsonb_array_length(tp_ladder) as slices,
                (select ei.trading_rules from exchange_instruments ei
                   join instruments i on i.id = ei.instrument_id
                  where ei.exchange_id = positions.exchange_id
                    and i.symbol = positions.symbol) as rules`,
    [positionId, n],
  );
  if (n === 1 && p?.open && p.avg !== null && n < p.slices) await moveToBreakeven(tx, p);
}

async function moveToBreakeven(tx: Sql, p: FilledPosition): Promise<void> {
  const breakeven = breakevenStop(
    p.avg,
    p.rules?.taker_fee ?? DEFAULT_TAKER_FEE,
    p.rules?.tick_size || undefined,
  );
  // greatest(): a stop already above break even (moved by hand, a trailing stop) stays.
  const [moved] = await tx.query<{ from: string | null; to: string }>(
    `update positions p set stop_price = greatest(coalesce(p.stop_price, $2::numeric), $2::numeric),
            updated_at = now()
       from (select stop_price from positions where id = $1) old
      where p.id = $1
        and not exists (select 1 from risk_actions where position_id = $1 and kind = 'breakeven')
      returning old.stop_price::text as from, p.stop_price::text as to`,
    [p.id, breakeven],
  );
  if (!moved) return;
  const to = dec.normalize(moved.to);
  const from = moved.from === null ? "none" : dec.normalize(moved.from);
  await tx.query(
    `insert into risk_actions (position_id, kind, status, params, account_id)
     values ($1, 'breakeven', 'DONE', $2, $3)`,
    [p.id, JSON.stringify({ slice: 1, from, to, breakeven }), p.account_id],
  );
  const raised = from === "none" || dec.cmp(to, from) > 0;
  await enqueueNotification(tx, {
    severity: "INFO",
    kind: NotificationKind.breakeven,
    text: `${accountTag({ id: p.account_id, name: p.account_name })}Take-profit 1 of ${p.slices} ` +
      `filled on ${p.symbol} (position ${p.id}): ${
        raised
          ? `stop moved from ${from} to break even ${to}`
          : `stop stays at ${to}, above break even ${breakeven}`
      } (entry ${dec.normalize(p.avg)} plus fees); ${dec.normalize(p.qty)} left`,
    dedupeKey: `position:${p.id}:breakeven`,
    accountId: p.account_id,
  });
}
