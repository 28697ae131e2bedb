/**
 * The Execution agent's database reads and the order insert: what planning needs (rules,
 * strategy limits, the open position) and the intent recorded before the exchange is called.
 */
import { errorMessage } from "../core/errors.ts";
import { type Db, isCheckViolation, isUniqueViolation, type Sql } from "../db/mod.ts";
import type { TradingRules } from "./markets.ts";
import { clientOrderIdPrefix, type OrderPlan, type StrategyLimits } from "./plan.ts";
import { ORDER_COLUMNS, type OrderRow } from "./order_updates.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";
import { readStrategyRow } from "../signals/mod.ts";
import { DEFAULT_ACCOUNT_ID } from "./accounts.ts";
import { type BuysSeen, exitRequester } from "./exit_fills.ts";

/**
 * Market data for one pass: the alerts of a batch are claimed together, so one ticker per
 * symbol and one balance read serve them all (the exchange still refuses what does not fit).
 */
export type PassCache = Map<string, Promise<unknown>>;
export function cached<T>(cache: PassCache, key: string, load: () => Promise<T>): Promise<T> {
  let p = cache.get(key) as Promise<T> | undefined;
  if (!p) {
    p = load();
    cache.set(key, p);
    // A failure is not cached: the next alert of the pass asks again.
    p.catch(() => cache.delete(key));
  }
  return p;
}

/**
 * What planning needs from the database; rules and strategy are read once per pass. For an
 * exit (`exitOf`, its alert id), also the filled quantity of each buy of the symbol that is
 * active or whose cancel that exit asked for, read in the statement that reads the position, so
 * the exit knows which fills the quantity it sells counts (exit_fills.ts).
 */
export async function loadSnapshot(
  db: Db,
  account: { id: number; exchangeId: string },
  d: { symbol: string; strategy: string },
  cache: PassCache,
  defaults: { riskPct: number; stopPct: number; takeProfitPct?: number },
  options: { exitOf?: number } = {},
) {
  const { symbol, strategy: strategyName } = d;
  const exchangeId = account.exchangeId;
  const [instrument] = await cached(
    cache,
    `rules:${exchangeId}:${symbol}`,
    () =>
      db.query<{ rules: TradingRules; quote: string; base: string }>(
        `select ei.trading_rules as rules, i.quote, i.base from exchange_instruments ei
       join instruments i on i.id = ei.instrument_id
      where ei.exchange_id = $1 and i.symbol = $2 and ei.active`,
        [exchangeId, symbol],
      ),
  );
  const s = await cached(
    cache,
    `strategy:${strategyName}`,
    () => readStrategyRow(db, strategyName),
  );
  // What is free to sell: the open position less what active sell orders still have to sell.
  // The database enforces the same rule on insert (migration 0006), under a lock.
  const [pos] = await db.query<
    { qty: string | null; selling: string; stop: string | null; buys: BuysSeen | null }
  >(
    `select p.qty::text, p.stop_price::text as stop,
            (select coalesce(sum(o.qty - o.filled_qty), 0) from orders o
              where o.account_id = p.account_id and o.exchange_id = p.exchange_id
                and o.symbol = p.symbol and o.side = 'sell'
                and o.status in ${ACTIVE_ORDER_STATUSES_SQL})::text as selling,
            case when $4::text is not null then (
              select coalesce(jsonb_object_agg(b.id::text, b.filled_qty::text), '{}'::jsonb)
                from (select o.id, o.filled_qty from orders o
                       where o.account_id = $3 and o.status in ${ACTIVE_ORDER_STATUSES_SQL}
                         and o.exchange_id = $1 and o.symbol = $2 and o.side = 'buy'
                      union
                      select o.id, o.filled_qty from cancel_requests c
                        join orders o on o.id = c.order_id
                       where c.requested_by = $4 and o.side = 'buy') b) end as buys
       from (select 1) one
       left join positions p
         on p.account_id = $3 and p.exchange_id = $1 and p.symbol = $2 and p.status = 'OPEN'`,
    [
      exchangeId,
      symbol,
      account.id,
      options.exitOf === undefined ? null : exitRequester(options.exitOf),
    ],
  );
  const strategy: StrategyLimits = s
    ? {
      enabled: s.enabled,
      riskPct: Number(s.risk_pct),
      stopPct: Number(s.stop_pct),
      confidenceMin: Number(s.confidence_min),
      maxNotionalQuote: s.max_notional ? Number(s.max_notional) : undefined,
      takeProfitPct: Number(s.take_profit_pct),
      qtyPolicy: s.qty_policy === "trust" ? "trust" : "cap",
      trailPct: s.trail_pct === null ? undefined : Number(s.trail_pct),
      trailActivationPct: Number(s.trail_activation_pct),
      tpLadder: s.tp_ladder ?? undefined,
    }
    // A strategy without a row trades with the configured defaults.
    : {
      enabled: true,
      riskPct: defaults.riskPct,
      stopPct: defaults.stopPct,
      takeProfitPct: defaults.takeProfitPct,
      confidenceMin: 0,
      qtyPolicy: "cap",
    };
  return {
    instrument,
    strategy,
    positionQty: pos.qty ?? undefined,
    sellingQty: pos.qty === null ? undefined : pos.selling,
    positionStop: pos.stop ?? undefined,
    buysSeen: pos.buys ?? undefined,
  };
}

/**
 * Records the order (status NEW) before anything is sent. The attempt number in the client
 * order id counts the key's earlier orders; the database refuses a second active or any order
 * after a filled one, which comes back here as a duplicate. A buy is not recorded while the
 * account is paused (a pause committed after planning began wins), nor beyond `openCap`
 * symbols held or being bought: that count and the insert run under a lock per account, so
 * concurrent buys of one pass cannot all pass it.
 */
export async function insertOrder(
  db: Db,
  account: { id: number; name: string; exchangeId: string },
  alertId: number,
  d: { idempotencyKey: string; symbol: string; strategy: string },
  plan: OrderPlan,
  decision: unknown,
  guards: { openCap?: number } = {},
): Promise<{ row: OrderRow } | { duplicate: string } | { invalid: string } | { paused: true }> {
  const prefix = clientOrderIdPrefix(
    d.idempotencyKey,
    account.id === DEFAULT_ACCOUNT_ID ? undefined : account.name,
  );
  const buy = plan.side === "buy";
  const insert = (sql: Sql) =>
    sql.query<OrderRow>(
      `insert into orders (exchange_id, symbol, side, type, purpose, qty, price, stop_price,
                           ref_price, idempotency_key, client_order_id, strategy, alert_id, decision,
                           account_id)
       select $1, $2, $3, $4, $5, $6, $7, null, $8, $9,
               $10 || '-' || ((select count(*) from orders
                                where account_id = $14 and idempotency_key = $9) + 1),
               $11, $12, $13, $14
        where not $15::bool or (not exists (
                select 1 from trading_pauses where account_id = $14 and lifted_at is null
                   and (until is null or until > now()))
              and exists (select 1 from accounts where id = $14 and enabled))
       returning ${ORDER_COLUMNS}`,
      [
        account.exchangeId,
        d.symbol,
        plan.side,
        plan.type,
        plan.purpose,
        plan.qty,
        plan.price ?? null,
        plan.refPrice,
        d.idempotencyKey,
        prefix,
        d.strategy,
        alertId,
        JSON.stringify({
          ...(decision as object),
          sl: plan.stopPrice,
          tp: plan.takeProfitPrice,
          sizing: plan.sizingNote,
          // The trail the position opened from this entry gets (order_updates.ts).
          trail_pct: plan.trail?.pct,
          trail_activation_pct: plan.trail?.activationPct,
          ladder: plan.ladder,
        }),
        account.id,
        buy,
      ],
    );
  try {
    const cap = guards.openCap ?? 0;
    const rows = buy && cap > 0
      ? await db.transaction(async (tx) => {
        await tx.query("select pg_advisory_xact_lock($1, $2)", [OPEN_CAP_LOCK, account.id]);
        const [{ n }] = await tx.query<{ n: number }>(
          `select count(distinct symbol)::int as n from (
             select symbol from positions where account_id = $1 and status = 'OPEN' and qty > 0
             union all
             select symbol from orders where account_id = $1 and side = 'buy'
                and status in ${ACTIVE_ORDER_STATUSES_SQL}) s
            where symbol <> $2`,
          [account.id, d.symbol],
        );
        if (n >= cap) return "over" as const;
        return await insert(tx);
      })
      : await insert(db);
    if (rows === "over") {
      return {
        invalid: `${cap} positions are open or being opened, the most allowed ` +
          `(MAX_OPEN_POSITIONS=${cap})`,
      };
    }
    if (rows.length === 0) return { paused: true };
    return { row: rows[0] };
  } catch (error) {
    if (isUniqueViolation(error)) {
      return { duplicate: `An order for idempotency key "${d.idempotencyKey}" already exists` };
    }
    if (isCheckViolation(error)) return { invalid: errorMessage(error) };
    throw error;
  }
}

/**
 * An active NEW order of the key recorded for this very alert is handed to the reconciler as
 * UNKNOWN (found: true): it was never sent by this process, or its answer was lost.
 */
export async function adoptOwnOrder(
  db: Db,
  accountId: number,
  key: string,
  alertId: number,
): Promise<boolean> {
  const rows = await db.query(
    `update orders set status = case when status = 'NEW' then 'UNKNOWN' else status end,
            submitted_at = coalesce(submitted_at, now()), updated_at = now(),
            reject_reason = coalesce(reject_reason,
              'Outcome unknown: recorded by an earlier pass that gave up on its insert')
      where account_id = $1 and idempotency_key = $2 and alert_id = $3
        and status in ('NEW', 'UNKNOWN')
      returning id`,
    [accountId, key, alertId],
  );
  return rows.length > 0;
}

/** The advisory lock (with the account id) around the open-positions cap and its insert. */
const OPEN_CAP_LOCK = 1885827951;
