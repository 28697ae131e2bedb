/** The public face of runtime/: what other rooms may use. */

export {
  type Component,
  type ComponentFactory,
  type MarketSource,
  type Route,
  type ServiceContext,
  type SharedExchange,
  sharedExchange,
  type WorkQueue,
  workQueue,
} from "./context.ts";
export { json } from "./respond.ts";
