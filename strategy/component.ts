/**
 * The `serve` part for market data and the strategy: every minute (Deno.cron) one ingestion
 * run, then one strategy run over the candles it stored. Only when STRATEGY_ENABLED=true;
 * otherwise it says so at start and touches nothing.
 */
import type { Component, ComponentFactory, ServiceContext } from "../runtime/mod.ts";
import { errorMessage } from "../core/errors.ts";
import { logger } from "../core/log.ts";
import type { Exchange } from "../exchange/mod.ts";
import { createIngestionAgent, type IngestionAgent } from "./ingestion.ts";
import {
  candleWindowFor,
  createStrategyAgent,
  type DecisionSink,
  type StrategyAgent,
} from "./agent.ts";
import { loadStrategy } from "./params.ts";
import { storeDecisionSink } from "./store_sink.ts";

export type MarketExchange = Pick<Exchange, "id" | "fetchOHLCV" | "close">;

export interface StrategyComponentOptions {
  /** Opens the exchange used for candles; absent → market data is off (said at start). */
  exchange?: (ctx: ServiceContext) => Promise<MarketExchange>;
  /** Where decisions go; by default stored as RECEIVED inbound alerts for execution. */
  sink?: (ctx: ServiceContext) => DecisionSink;
  /** Register the minute schedule (tests drive `tick()` themselves). Default true. */
  cron?: boolean;
}

export interface StrategyComponent extends Component {
  /** One ingestion run then one strategy run; skipped when the previous one still runs. */
  tick(): Promise<void>;
}

const off = (why: string): StrategyComponent => ({
  name: "strategy",
  describe: () => why,
  tick: () => Promise.resolve(),
});

// Longer than ~80 lines: the component's start and stop share the agents; each part is short.
export function strategyComponent(options: StrategyComponentOptions = {}): ComponentFactory {
  return async (ctx) => {
    const { config } = ctx;
    if (!config.strategy.enabled) {
      return off("off (STRATEGY_ENABLED is not true): no candle ingestion, no strategy decisions");
    }
    if (!options.exchange) {
      return off("off: no exchange adapter is wired for market data");
    }
    const log = logger("strategy");
    // Its decisions go through the intake, which maps them by the strategies table: the
    // built-in strategy gets a row from config the first time (an operator's row wins).
    const st = config.strategy;
    await ctx.db.query(
      `insert into strategies (name, risk_pct, stop_pct, take_profit_pct, confidence_min)
       values ($1, $2, $3, $4, $5) on conflict (name) do nothing`,
      [st.name, config.risk.perTradePct, st.stopPct, st.takeProfitPct, st.confidenceMin],
    );
    const resolved = await loadStrategy(ctx.db, config);
    const controller = new AbortController();
    const signal = AbortSignal.any([ctx.signal, controller.signal]);
    let exchange: MarketExchange | undefined;
    let ingestion: IngestionAgent | undefined;
    let strategy: StrategyAgent | undefined;
    let running: Promise<void> | undefined;

    const runTick = async () => {
      if (!ingestion || signal.aborted) return;
      const results = await ingestion.runOnce();
      if (strategy && results.some((r) => r.ok)) await strategy.runOnce();
    };
    const tick = (): Promise<void> => {
      // Deno.cron skips a tick while the previous run lasts; so does a direct call.
      if (running) return running;
      running = runTick().catch((error) => {
        log.error("Market data tick failed: {error}", { error: errorMessage(error) });
      }).finally(() => {
        running = undefined;
      });
      return running;
    };

    return {
      name: "strategy",
      tick,
      async start() {
        exchange = await options.exchange!(ctx);
        ingestion = createIngestionAgent({
          db: ctx.db,
          exchange,
          clock: ctx.clock,
          log: logger("ingestion"),
          symbols: resolved.symbols,
          timeframe: config.timeframe,
          // Enough for the strategy's indicators to settle after a restart.
          window: candleWindowFor(resolved.params),
          signal,
        });
        if (resolved.enabled) {
          const sink = options.sink?.(ctx) ?? storeDecisionSink(ctx.db, {
            log,
            onStored: (id) => ctx.queues.decisions.push(id),
            now: () => ctx.clock.now(),
          });
          strategy = createStrategyAgent({
            db: ctx.db,
            clock: ctx.clock,
            log,
            exchangeId: exchange.id,
            timeframe: config.timeframe,
            symbols: resolved.symbols,
            params: resolved.params,
            sink,
          });
          await strategy.start();
        }
        if ((options.cron ?? true) && typeof Deno.cron === "function") {
          Deno.cron("pg-solo-lite market data", "* * * * *", { signal }, tick);
        }
        // The first run happens now rather than at the next minute; start does not wait for it.
        void tick();
      },
      async stop() {
        controller.abort();
        await running;
        await exchange?.close?.();
      },
      describe() {
        const p = resolved.params;
        const what = `candles for ${
          resolved.symbols.join(", ")
        } at ${config.timeframe} every minute`;
        if (!resolved.enabled) {
          return `${what}; strategy "${p.name}" is disabled in the strategies table`;
        }
        return `${what}; strategy "${p.name}" (${resolved.source}): EMA ${p.emaFast}/${p.emaSlow}, ` +
          `RSI ${p.rsiPeriod} ${p.rsiOversold}–${p.rsiOverbought}, stop ${p.stopPct}%, ` +
          `target ${p.takeProfitPct}%, confidence ≥ ${p.confidenceMin}`;
      },
    };
  };
}
