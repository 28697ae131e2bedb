/**
 * The parts of `serve`, in start order. A factory may return a part that does nothing when its
 * capability is not configured; its describe() then says so in the start-up log.
 */
import type { Component, ServiceContext } from "./context.ts";
import { notifyComponent } from "../notify/component.ts";
import { inboundComponent } from "../webhook/pine.ts";
import { executionComponent } from "../agents/execution_component.ts";
import { strategyComponent } from "../agents/strategy/component.ts";
import { createCcxtExchange } from "../exchange/ccxt.ts";

export type ComponentFactory = (ctx: ServiceContext) => Promise<Component | undefined>;

export const componentFactories: ComponentFactory[] = [
  // Telegram delivery first, so that every later part's start-up problems reach the operator.
  notifyComponent,
  // The webhook: alerts stored as RECEIVED and handed to execution.
  inboundComponent,
  // Decisions → orders, reconciliation and the market sync.
  executionComponent,
  // Candles and the built-in strategy (only with STRATEGY_ENABLED=true). Market data is
  // public: no keys are given to this client.
  strategyComponent({
    exchange: (ctx) =>
      createCcxtExchange({ ...ctx.config.exchange, apiKey: undefined, apiSecret: undefined }),
  }),
];
