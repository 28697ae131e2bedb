/**
 * A row of `strategies`, the statements that read it, and the one that writes it. The intake
 * maps alerts with it, execution sizes orders with it, the strategy agent reads its params
 * from it, `strategies add|list` writes and prints it.
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
  /** What an alert's qty may do: 'cap' (at most the risk-based size) or 'trust' (migration 0019). */
  qty_policy: "cap" | "trust";
  /** The trailing stop distance (%) of its entries, null = none (migration 0020). */
  trail_pct: string | null;
  /** How far (%) above the entry the price must rise before the stop trails. */
  trail_activation_pct: string;
  /** The laddered take-profit ([{pct, share}], trading/ladder.ts), or null (migration 0021). */
  tp_ladder: { pct: number; share: number }[] | null;
  /** The strategy agent's indicator parameters (jsonb), validated by strategy/params.ts. */
  params: unknown;
  /** The row's xmin: record_inbound_decision checks the row did not change since the read. */
  version: string;
}

const COLUMNS = `name, enabled, symbols, risk_pct::text, stop_pct::text, take_profit_pct::text,
  confidence_min::text, max_notional::text, qty_policy, trail_pct::text, trail_activation_pct::text, tp_ladder, params, xmin::text as version`;

const SELECT_STRATEGY = `select ${COLUMNS} from strategies where name = $1`;

/** The named strategy, or undefined when it has no row (the configured defaults apply). */
export async function readStrategyRow(sql: Sql, name: string): Promise<StrategyRow | undefined> {
  // Prepared: read for every alert of an uncached strategy, with constant text.
  const [row] = await sql.query<StrategyRow>(SELECT_STRATEGY, [name], { prepare: true });
  return row;
}

/** Every strategy, by name. */
export function listStrategyRows(sql: Sql): Promise<StrategyRow[]> {
  return sql.query<StrategyRow>(`select ${COLUMNS} from strategies order by name`);
}

/** Inserts or updates; only the fields given (not undefined) are written. True when new. */
export async function upsertStrategy(
  db: Sql,
  name: string,
  fields: Record<string, unknown>,
): Promise<boolean> {
  const cols = Object.entries(fields).filter(([, v]) => v !== undefined);
  const names = cols.map(([k]) => k);
  const params = [name, ...cols.map(([, v]) => v)];
  const placeholders = cols.map((_, i) => `$${i + 2}`);
  const updates = [...names.map((c) => `${c} = excluded.${c}`), "updated_at = now()"];
  const [row] = await db.query<{ created: boolean }>(
    `insert into strategies (name${names.map((c) => `, ${c}`).join("")})
     values ($1${placeholders.map((p) => `, ${p}`).join("")})
     on conflict (name) do update set ${updates.join(", ")}
     returning (xmax = 0) as created`,
    params,
  );
  return row.created;
}
