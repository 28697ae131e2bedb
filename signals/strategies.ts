/**
 * A row of `strategies` and the one statement that reads it by name. The intake maps alerts
 * with it, execution sizes orders with it, the strategy agent reads its params from it.
 */
import type { Sql } from "../db/mod.ts";

/** A strategy's name: as the alert's `strategy` field and `strategies add` accept it. */
export const STRATEGY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** A row of `strategies`, numerics as decimal strings. */
export interface StrategyRow {
  name: string;
  enabled: boolean;
  symbols: string[] | null;
  risk_pct: string;
  stop_pct: string;
  take_profit_pct: string;
  confidence_min: string;
  max_notional: string | null;
  /** The strategy agent's indicator parameters (jsonb), validated by strategy/params.ts. */
  params: unknown;
  /** The row's xmin: record_inbound_decision checks the row did not change since the read. */
  version: string;
}

const SELECT_STRATEGY = `select name, enabled, symbols, risk_pct::text, stop_pct::text,
  take_profit_pct::text, confidence_min::text, max_notional::text, params, xmin::text as version
  from strategies where name = $1`;

/** The named strategy, or undefined when it has no row (the configured defaults apply). */
export async function readStrategyRow(sql: Sql, name: string): Promise<StrategyRow | undefined> {
  // Prepared: read for every alert of an uncached strategy, with constant text.
  const [row] = await sql.query<StrategyRow>(SELECT_STRATEGY, [name], { prepare: true });
  return row;
}
