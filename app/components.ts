/**
 * The parts of `serve`, in start order. Each capability adds its factory here; a factory may
 * return nothing when the capability is not configured (it then says so in the start-up log).
 */
import type { Component, ServiceContext } from "./context.ts";
import { strategyComponent } from "../agents/strategy/component.ts";
import { inboundComponent } from "../webhook/pine.ts";
import { notifyComponent } from "../notify/component.ts";

export type ComponentFactory = (ctx: ServiceContext) => Promise<Component | undefined>;

export const componentFactories: ComponentFactory[] = [
  // Telegram delivery first, so that every later part's start-up problems reach the operator.
  notifyComponent,
  inboundComponent,
  // Market data and the strategy; wire `exchange: (ctx) => …` to the exchange adapter.
  strategyComponent(),
];
