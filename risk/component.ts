/**
 * The Risk agent inside `serve`: checks the stop and target of every open position on the
 * shared exchange every few seconds. An exchange that cannot be opened yet only makes the loop
 * back off; exits it finds are woken into execution's queue.
 */
import type { Component, ServiceContext } from "../runtime/mod.ts";
import { limits } from "../core/limits.ts";
import { loopAlarm } from "../notify/mod.ts";
import { startLoop } from "../core/loop.ts";
import { createRiskAgent, type RiskAgent } from "./watch.ts";
import { listAccounts, marketKeyOf } from "../execution/mod.ts";

export function riskComponent(ctx: ServiceContext): Promise<Component> {
  const { db, clock, signal } = ctx;
  const log = ctx.log.with?.({ component: "risk" }) ?? ctx.log;
  let stopped: Promise<void> | undefined;
  return Promise.resolve({
    name: "risk",
    start() {
      let agent: RiskAgent | undefined;
      stopped = startLoop({
        name: "risk",
        // Positions unwatched: a WARN soon, a CRITICAL after a minute.
        onFailing: loopAlarm(db, "stops and targets of open positions are not watched"),
        failingWarnMs: 15_000,
        failingCriticalMs: 60_000,
        intervalMs: limits.riskCheckMs,
        maxBackoffMs: limits.backoffMaxMs,
        signal,
        clock,
        log,
        run: async () => {
          agent ??= createRiskAgent({
            db,
            exchange: await ctx.exchange.get(),
            markets: async () =>
              new Map(
                (await listAccounts(db)).map((a) => {
                  const m = marketKeyOf(ctx.config, a);
                  return [a.id, { key: m.key, get: () => ctx.marketData(m) }];
                }),
              ),
            log,
            queue: ctx.queues.decisions,
            trailStepPct: ctx.config.risk.trailStepPct,
          });
          await agent.runOnce();
        },
      }).stopped;
      return Promise.resolve();
    },
    async stop() {
      await stopped;
    },
    describe: () =>
      `stops and targets of open positions are checked every ${limits.riskCheckMs / 1000} s ` +
      (ctx.config.risk.exchangeStops
        ? "(software exits; stops also rest on the exchange, or in the paper broker)"
        : "(software exits, nothing is placed on the exchange)"),
  });
}
