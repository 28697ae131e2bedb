/** The public face of risk/: what other rooms may use. */

export { riskComponent } from "./component.ts";
export { exitKey, handOverExit, type WatchedPosition } from "./exits_sql.ts";
