/**
 * The Risk agent: software stop-loss and take-profit exits. Each pass reads the OPEN positions
 * of the exchange that have a stop or a target, fetches each symbol's ticker once, and when a
 * level is crossed hands a sell over to execution: the risk action (PLANNED), the alert
 * (RECEIVED, source 'risk') with its dedupe key and the notification are written in one
 * transaction, so an exit is recorded before anything is sent and never handed over twice.
 * Exits do not go through the intake: a disabled or deleted strategy must not keep a
 * position open past its stop. A position whose stop rests on the exchange (a protective
 * order, execution/protective.ts) is watched for its target only; its exit cancels that stop
 * first. A position with a trail (trailing.ts) is watched for it too, target or not: its stop
 * is raised before the levels are checked. A laddered take-profit hands over its next slice alone (rules.ts ladderExit), as a
 * partial exit; settling it moves the stop to break even after the first (ladder_sql.ts).
 */
import type { WorkQueue } from "../runtime/mod.ts";
import { errorMessage, TemporaryError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import type { Db } from "../db/mod.ts";
import type { Exchange } from "../exchange/mod.ts";
import { checkRisk, ladderExit } from "./rules.ts";
import { handOverExit, settleExits, type WatchedPosition } from "./exits_sql.ts";
import { ACTIVE_ORDER_STATUSES_SQL, OTHER_SELLING_SQL } from "../trading/statuses.ts";
import { type TrailingPosition, trailPosition } from "./trailing.ts";
import { priceGaps } from "./price_gaps.ts";

export { exitKey } from "./exits_sql.ts";

export interface RiskDeps {
  db: Db;
  /** Market data of the default account's exchange. */
  exchange: Pick<Exchange, "id" | "fetchTicker">;
  /**
   * Each account's market (accounts on one exchange id may see other prices: a testnet, their
   * own API_URL): its key and its source. Without it every position is priced by `exchange`.
   */
  markets?: () => Promise<
    Map<number, { key: string; get: () => Promise<Pick<Exchange, "fetchTicker">> }>
  >;
  log: Log;
  /** Woken with each new exit's alert id after the commit (execution's queue). */
  queue?: WorkQueue<number>;
  /** A trailing stop moves by at least this much (%) of itself (TRAIL_STEP_PCT). */
  trailStepPct?: number;
  /** The clock of the price-gap warnings (price_gaps.ts); tests move it. */
  now?: () => number;
  /**
   * How long after its start the watch waits at most for the reconciler to have looked at a
   * resting stop before it treats a price below that stop's limit as a gap (see
   * protective_checked below); a minute unless a test shortens it.
   */
  restartGraceMs?: number;
}

export interface RiskSummary {
  /** Open positions with a stop or a target. */
  watched: number;
  /** Exits handed over to execution in this pass. */
  handed: number;
  /** Symbols whose ticker could not be fetched (retried next pass). */
  tickerFailures: number;
  /** Risk actions settled DONE or FAILED from their alert's outcome. */
  settled: number;
}

/** What the trailing update reads of a position (trailing.ts), the tick from its instrument. */
const TRAIL_COLUMNS = `p.avg_entry_price::text, p.trail_pct::text, p.trail_activation_pct::text,
  p.high_water_price::text,
  (select nullif(ei.trading_rules ->> 'tick_size', '') from exchange_instruments ei
     join instruments i on i.id = ei.instrument_id
    where ei.exchange_id = p.exchange_id and i.symbol = p.symbol) as tick_size`;

/**
 * A stop's row looked at longer than this before the watch started is from before a downtime
 * (while serve runs, each reconcile pass, every 10 s, looks at the resting orders oldest first).
 */
const DOWNTIME_S = 60;

export function createRiskAgent(deps: RiskDeps) {
  const { db, exchange, log } = deps;
  const gaps = priceGaps({ db, log, now: deps.now });
  /** The database's clock at this agent's first pass: see protective_checked below. */
  let startedAt: Date | undefined;
  const restartGraceS = (deps.restartGraceMs ?? 60_000) / 1000;

  async function runOnce(): Promise<RiskSummary> {
    startedAt ??= (await db.query<{ now: Date }>("select now() as now"))[0].now;
    const settled = await settleExits(db);
    // A position with an exit in flight is not looked at again until that exit settles.
    const positions = await db.query<WatchedPosition & TrailingPosition>(
      `select p.id, p.account_id::int, (select a.name from accounts a where a.id = p.account_id)
              as account_name, p.exchange_id, p.symbol, p.stop_price::text,
              p.take_profit_price::text, p.strategy, p.opened_at, ${TRAIL_COLUMNS},
              p.tp_ladder, p.tp_ladder_filled,
              -- Only a resting stop that covers the whole position at its stop (or tighter)
              -- guards it (all of it but what resting limit sells of it hold): after a second
              -- buy added to the position, or a stop moved up, the software stop keeps
              -- watching until the exchange stop matches again.
              (select case
                        when sum(o.qty - o.filled_qty) >= normalize_size(
                               p.qty - ${OTHER_SELLING_SQL},
                               nullif(ei.trading_rules ->> 'step_size', '')::numeric)
                         and max(o.stop_price) >= normalize_price(p.stop_price,
                               nullif(ei.trading_rules ->> 'tick_size', '')::numeric, 'down')
                        then min(o.price)::text end
                 from orders o
                 left join instruments i on i.symbol = p.symbol
                 left join exchange_instruments ei
                   on ei.exchange_id = p.exchange_id and ei.instrument_id = i.id
                where o.position_id = p.id and o.purpose = 'stop_loss'
                  and o.status in ${ACTIVE_ORDER_STATUSES_SQL}
                group by ei.trading_rules) as protective_limit,
              -- After a restart a stop's row tells what it was before the downtime: it may have
              -- filled on the exchange meanwhile. Until the reconciler has been at it since
              -- this agent started (at most a minute, should the exchange not answer), a price
              -- below its limit is no gap to act on.
              ((select bool_and(o.checked_at >= $3) from orders o
                 where o.position_id = p.id and o.purpose = 'stop_loss'
                   and o.status in ${ACTIVE_ORDER_STATUSES_SQL})
               or $3 < now() - make_interval(secs => $4::float8)) as protective_checked,
              -- And a stop whose row was last looked at a while before this agent started
              -- (serve was down) may have sold the position before its price came back up:
              -- within the same minute its target, ladder and trail wait for the reconciler too.
              (exists (select 1 from orders o
                        where o.position_id = p.id and o.purpose = 'stop_loss'
                          and o.status in ${ACTIVE_ORDER_STATUSES_SQL}
                          and coalesce(o.checked_at, o.updated_at)
                              < $3::timestamptz - make_interval(secs => $5::float8))
               and $3 >= now() - make_interval(secs => $4::float8)) as from_before_downtime
         from positions p
        where (p.exchange_id = $1 or $2) and p.status = 'OPEN' and p.qty > 0
          and (p.stop_price is not null or p.take_profit_price is not null
               or p.trail_pct is not null or p.tp_ladder is not null)
          and not exists (select 1 from risk_actions r
                           where r.position_id = p.id and r.status = 'PLANNED'
                             and r.alert_id is not null)
        order by p.id`,
      [exchange.id, deps.markets !== undefined, startedAt, restartGraceS, DOWNTIME_S],
    );
    const summary: RiskSummary = {
      watched: positions.length,
      handed: 0,
      tickerFailures: 0,
      settled,
    };
    // One ticker per market and symbol, whichever accounts hold it.
    const markets = positions.length > 0 ? await deps.markets?.() : undefined;
    const bySymbol = new Map<string, typeof positions>();
    let lastError = "";
    for (const p of positions) {
      const key = `${markets?.get(p.account_id)?.key ?? p.exchange_id}\n${p.symbol}`;
      bySymbol.set(key, [...(bySymbol.get(key) ?? []), p]);
    }
    for (const [key, group] of bySymbol) {
      const { symbol, account_id: accountId } = group[0];
      let last: number;
      try {
        const market = markets?.get(accountId);
        const source = market ? await market.get() : exchange;
        last = (await source.fetchTicker(symbol)).last;
        gaps.priced(key);
      } catch (error) {
        // Never a trigger: the stop is checked again on the next pass.
        summary.tickerFailures++;
        lastError = errorMessage(error);
        gaps.failed(key, symbol, group.map((p) => p.id), lastError);
        log.warn("Risk: no price for {symbol}, checked again next pass: {error}", {
          symbol,
          error: errorMessage(error),
        });
        continue;
      }
      for (const p of group) {
        // Its stop may have filled while serve was down, the price since back above its target
        // or its trail: nothing is acted on from the row of before until the reconciler has
        // been at it (a false "take-profit hit", a trail raised, a cancel of a filled stop).
        if (p.from_before_downtime === true) continue;
        const trailed = await trailPosition(db, p, last, log, deps.trailStepPct);
        // The resting stop is below the raised one now: the software stop guards until
        // execution/protective.ts has replaced it.
        if (trailed !== undefined) {
          Object.assign(p, { stop_price: trailed, protective_limit: null });
        }
        // A stop resting on the exchange guards the position there; the software stop steps
        // in only once the price is below that stop's limit (triggered but unfilled: a gap)
        // and the reconciler has looked at the stop since this watch started: after a restart
        // its exit would otherwise race the recording of a fill made while serve was down (a
        // false "stop-loss hit" and a sell refused, or a cancel of a filled order).
        const onExchange = p.protective_limit != null &&
          (last >= Number(p.protective_limit) || p.protective_checked !== true);
        const action = checkRisk(
          {
            stopPrice: onExchange ? null : p.stop_price,
            // A ladder replaces the single target.
            takeProfitPrice: p.tp_ladder ? null : p.take_profit_price,
          },
          last,
        ) ?? ladderExit(p.tp_ladder, p.tp_ladder_filled ?? 0, last);
        if (!action) continue;
        const alertId = await handOverExit(db, p, action, last);
        if (alertId === undefined) continue;
        summary.handed++;
        log.warn("Risk: {kind} of position {position} on {symbol} at {last}; alert {alertId}", {
          kind: action.kind,
          position: p.id,
          symbol,
          last,
          alertId,
        });
        deps.queue?.push(alertId);
      }
    }
    await gaps.flush(bySymbol, bySymbol.size > 0 && summary.tickerFailures === bySymbol.size);
    // Not one price: every watched position is unwatched. The loop counts it as a failure, so
    // the operator hears about it if it lasts (notify/loop_alarm.ts).
    if (bySymbol.size > 0 && summary.tickerFailures === bySymbol.size) {
      throw new TemporaryError(
        `no price for any of the ${positions.length} watched position(s): ${lastError}`,
      );
    }
    return summary;
  }

  return { runOnce, settle: () => settleExits(db) };
}

export type RiskAgent = ReturnType<typeof createRiskAgent>;
