/**
 * The parts of `serve`, in start order. Each capability adds its factory here; a factory may
 * return nothing when the capability is not configured (it then says so in the start-up log).
 */
import type { Component, ServiceContext } from "./context.ts";
import { executionComponent } from "../agents/execution_component.ts";

export type ComponentFactory = (ctx: ServiceContext) => Promise<Component | undefined>;

export const componentFactories: ComponentFactory[] = [
  // Filled in by the capabilities: notifications, inbound signals, execution, strategy.
  executionComponent,
];
