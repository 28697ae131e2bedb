/**
 * The trailing stop of the Risk agent (live and paper alike): with each pass's last price the
 * position's high-water mark rises, and once trading/trail.ts says the stop should follow, the
 * position's stop_price is raised — in SQL, so a race can only ever leave the higher stop. The
 * software watch then guards with the new stop at once, and execution/protective.ts replaces a
 * resting exchange stop that no longer matches it (cancel, then a new attempt).
 *
 * Each move is a `risk_actions` row (kind trailing_stop, DONE, params {from, to, high}) and an
 * INFO log line; only the first move of a position is told on Telegram: one message per tick of
 * a rising market would drown the chat, and the fills say how it ended.
 */
import type { Log } from "../core/log.ts";
import type { Db } from "../db/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { dec } from "../trading/decimal.ts";
import { DEFAULT_TRAIL_STEP_PCT, trailedStop } from "../trading/trail.ts";

/** What the trailing update reads of a watched position (risk/watch.ts selects it). */
export interface TrailingPosition {
  id: number;
  account_id: number;
  account_name: string;
  symbol: string;
  stop_price: string | null;
  avg_entry_price: string | null;
  trail_pct: string | null;
  trail_activation_pct: string | null;
  high_water_price: string | null;
  tick_size: string | null;
}

/**
 * The stop the trail asks for at `last`, rounded up to the tick like the plan's stops, or
 * undefined when it stays. A stop at or above the last price is not moved to: it would trigger
 * at once (the exchange refuses such a stop); the current stop handles a falling price.
 */
export function nextTrailStop(
  p: TrailingPosition,
  last: number,
  stepPct: number,
): { stop?: string; high: number } {
  const entry = Number(p.avg_entry_price);
  const high = Math.max(Number(p.high_water_price ?? p.avg_entry_price), last);
  if (p.trail_pct === null) return { high };
  const raw = trailedStop(entry, high, p.stop_price === null ? null : Number(p.stop_price), {
    trailPct: Number(p.trail_pct),
    activationPct: Number(p.trail_activation_pct ?? 0),
    stepPct,
  });
  if (raw === undefined) return { high };
  // toFixed drops the float's tail (110 × 0.98 = 107.80000000000001) before rounding up.
  const text = raw.toFixed(10);
  const stop = p.tick_size ? dec.roundToStep(text, p.tick_size, "up") : dec.normalize(text);
  if (Number(stop) >= last || (p.stop_price !== null && dec.cmp(stop, p.stop_price) <= 0)) {
    return { high };
  }
  return { stop, high };
}

/**
 * Raises the high-water mark and, when the trail moves, the stop of one position. Returns the
 * new stop when it moved (the caller's pass then watches with it).
 */
export async function trailPosition(
  db: Db,
  p: TrailingPosition,
  last: number,
  log: Log,
  stepPct = DEFAULT_TRAIL_STEP_PCT,
): Promise<string | undefined> {
  if (p.trail_pct === null || !(last > 0)) return undefined;
  const { stop, high } = nextTrailStop(p, last, stepPct);
  const highText = dec.normalize(high.toFixed(12));
  if (stop === undefined) {
    if (high > Number(p.high_water_price ?? 0)) {
      await db.query(
        `update positions set high_water_price = $2
          where id = $1 and status = 'OPEN' and (high_water_price is null or high_water_price < $2)`,
        [p.id, highText],
      );
    }
    return undefined;
  }
  const moved = await db.transaction(async (tx) => {
    // Only ever up: the where clause refuses a stop that is not above the stored one.
    const [row] = await tx.query<{ first: boolean }>(
      `update positions set stop_price = $2, updated_at = now(),
              high_water_price = greatest(coalesce(high_water_price, $3), $3)
        where id = $1 and status = 'OPEN' and (stop_price is null or stop_price < $2)
        returning not exists (select 1 from risk_actions r
                               where r.position_id = $1 and r.kind = 'trailing_stop') as first`,
      [p.id, stop, highText],
    );
    if (!row) return false;
    await tx.query(
      `insert into risk_actions (position_id, kind, status, params, account_id)
       values ($1, 'trailing_stop', 'DONE', $2, $3)`,
      [p.id, JSON.stringify({ from: p.stop_price, to: stop, high: highText }), p.account_id],
    );
    if (row.first) {
      const tag = p.account_id === 1 ? "" : `[${p.account_name}] `;
      await enqueueNotification(tx, {
        severity: "INFO",
        kind: NotificationKind.trailingStop,
        text: `${tag}Trailing stop of ${p.symbol} (position ${p.id}) is following the price: ` +
          `high ${highText}, stop ${p.stop_price ?? "none"} → ${stop} (${
            dec.normalize(p.trail_pct!)
          } % below the high); later moves are logged, not sent`,
        dedupeKey: `position:${p.id}:trailing`,
        accountId: p.account_id,
      });
    }
    return true;
  });
  if (!moved) return undefined;
  log.info("Risk: trailing stop of position {position} on {symbol}: {from} → {to} (high {high})", {
    position: p.id,
    symbol: p.symbol,
    from: p.stop_price,
    to: stop,
    high: highText,
  });
  return stop;
}
