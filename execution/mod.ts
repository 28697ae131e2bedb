/** The public face of execution/: what other rooms may use. */

export { executionComponent, openExchange } from "./component.ts";
