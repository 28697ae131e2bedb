/**
 * Instrument rules: the exchange's markets synced into `exchanges`, `instruments` and
 * `exchange_instruments` (trading_rules as decimal strings), three statements whatever the
 * number of markets, at start and periodically. The orders trigger normalizes to these rules.
 */
import type { Sql } from "../db/mod.ts";
import type { Exchange, Market } from "../exchange/mod.ts";
import { isUnifiedSymbol } from "../trading/symbol.ts";

export interface TradingRules {
  tick_size?: string;
  step_size?: string;
  min_qty?: string;
  max_qty?: string;
  /** The largest market order (Binance's MARKET_LOT_SIZE), below `max_qty` on some markets. */
  market_max_qty?: string;
  min_notional?: string;
  taker_fee?: string;
}

export function rulesOf(m: Market): TradingRules {
  return {
    tick_size: m.tickSize,
    step_size: m.stepSize,
    min_qty: m.minQty,
    max_qty: m.maxQty,
    market_max_qty: m.marketMaxQty,
    min_notional: m.minNotional,
    taker_fee: m.takerFee === undefined ? undefined : String(m.takerFee),
  };
}

/** Writes the markets; returns how many were stored. */
export async function storeMarkets(
  sql: Sql,
  exchange: Pick<Exchange, "id" | "mode">,
  markets: Market[],
): Promise<number> {
  const rows = markets.filter((m) => isUnifiedSymbol(m.symbol)).map((m) => ({
    symbol: m.symbol,
    base: m.base,
    quote: m.quote,
    market_id: m.marketId,
    active: m.active,
    rules: rulesOf(m),
  }));
  await sql.query(
    `insert into exchanges (id, mode) values ($1, $2)
     on conflict (id) do update set mode = excluded.mode, updated_at = now()`,
    [exchange.id, exchange.mode],
  );
  if (rows.length === 0) return 0;
  const payload = JSON.stringify(rows);
  await sql.query(
    `insert into instruments (symbol, base, quote)
     select symbol, base, quote from jsonb_to_recordset($1::jsonb) as r(symbol text, base text, quote text)
     on conflict (symbol) do nothing`,
    [payload],
  );
  await sql.query(
    `insert into exchange_instruments (exchange_id, instrument_id, market_id, active, trading_rules)
     select $2, i.id, r.market_id, r.active, jsonb_strip_nulls(r.rules)
       from jsonb_to_recordset($1::jsonb) as r(symbol text, market_id text, active boolean, rules jsonb)
       join instruments i on i.symbol = r.symbol
     on conflict (exchange_id, instrument_id) do update
       set market_id = excluded.market_id, active = excluded.active,
           trading_rules = excluded.trading_rules, updated_at = now()
       where exchange_instruments.trading_rules is distinct from excluded.trading_rules
          or exchange_instruments.active is distinct from excluded.active
          or exchange_instruments.market_id is distinct from excluded.market_id`,
    [payload, exchange.id],
  );
  return rows.length;
}

export async function syncMarkets(
  db: Sql & { transaction: <T>(fn: (tx: Sql) => Promise<T>) => Promise<T> },
  exchange: Exchange,
): Promise<number> {
  const markets = await exchange.loadMarkets();
  return await db.transaction((tx) => storeMarkets(tx, exchange, markets));
}
