/** The public face of risk/: what other rooms may use. */

export { riskComponent } from "./component.ts";
