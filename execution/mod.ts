/** The public face of execution/: what other rooms may use. */

export {
  executionComponent,
  marketDataOf,
  openAccountExchange,
  openExchange,
} from "./component.ts";
