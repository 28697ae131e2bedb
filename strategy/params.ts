/**
 * A strategy's parameters: from config (STRATEGY_*, EMA_*, RSI_*, STOP_PCT, …), overridden by
 * the `strategies` row of the same name when there is one (its columns, then its `params`).
 */
import { z } from "zod";
import type { Config } from "../core/config.ts";
import { ConfigError } from "../core/errors.ts";
import type { Sql } from "../db/mod.ts";
import { readStrategyRow } from "../signals/mod.ts";
import type { StrategyParams } from "./rule.ts";

export interface ResolvedStrategy {
  params: StrategyParams;
  /** Symbols it trades: the row's list when set, else SYMBOLS. */
  symbols: string[];
  enabled: boolean;
  /** Where the parameters came from, for the start-up log. */
  source: "config" | "strategies table";
}

const paramsSchema = z.object({
  ema_fast: z.number().int().min(2).max(500).optional(),
  ema_slow: z.number().int().min(3).max(1000).optional(),
  rsi_period: z.number().int().min(2).max(500).optional(),
  rsi_overbought: z.number().min(50).max(100).optional(),
  rsi_oversold: z.number().min(0).max(50).optional(),
});

export function paramsFromConfig(config: Pick<Config, "strategy" | "risk">): StrategyParams {
  const s = config.strategy;
  return {
    name: s.name,
    emaFast: s.emaFast,
    emaSlow: s.emaSlow,
    rsiPeriod: s.rsiPeriod,
    rsiOverbought: s.rsiOverbought,
    rsiOversold: s.rsiOversold,
    stopPct: s.stopPct,
    takeProfitPct: s.takeProfitPct,
    confidenceMin: s.confidenceMin,
    riskPct: config.risk.perTradePct,
  };
}

/** Reads the named strategy; a malformed `params` column is a configuration error. */
export async function loadStrategy(
  sql: Sql,
  config: Pick<Config, "strategy" | "risk" | "symbols">,
  name = config.strategy.name,
): Promise<ResolvedStrategy> {
  const base = { ...paramsFromConfig(config), name };
  const row = await readStrategyRow(sql, name);
  if (!row) return { params: base, symbols: config.symbols, enabled: true, source: "config" };
  const parsed = paramsSchema.safeParse(row.params ?? {});
  if (!parsed.success) {
    throw new ConfigError(
      `Strategy "${name}" has invalid params ${JSON.stringify(row.params)}: ` +
        `${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}; ` +
        `fix it with: pg-solo-lite strategies add ${name} …`,
    );
  }
  const p = parsed.data;
  const params: StrategyParams = {
    ...base,
    emaFast: p.ema_fast ?? base.emaFast,
    emaSlow: p.ema_slow ?? base.emaSlow,
    rsiPeriod: p.rsi_period ?? base.rsiPeriod,
    rsiOverbought: p.rsi_overbought ?? base.rsiOverbought,
    rsiOversold: p.rsi_oversold ?? base.rsiOversold,
    stopPct: Number(row.stop_pct),
    takeProfitPct: Number(row.take_profit_pct),
    confidenceMin: Number(row.confidence_min),
    // As execution sizes it: the row's risk (the table caps it at 3 %), so both agree.
    riskPct: Number(row.risk_pct),
    maxNotionalQuote: row.max_notional === null ? undefined : Number(row.max_notional),
  };
  if (params.emaFast >= params.emaSlow) {
    throw new ConfigError(
      `Strategy "${name}" has ema_fast ${params.emaFast} not below ema_slow ${params.emaSlow}; ` +
        `set ema_fast smaller than ema_slow`,
    );
  }
  return {
    params,
    symbols: row.symbols && row.symbols.length > 0 ? row.symbols : config.symbols,
    enabled: row.enabled,
    source: "strategies table",
  };
}
