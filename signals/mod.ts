/** The public face of signals/: what other rooms may use. */

export {
  intakeAlert,
  type IntakeResult,
  recordDecision,
  recordInvalid,
  symbolResolver,
} from "./intake.ts";
export { readStrategyRow, STRATEGY_NAME, type StrategyRow } from "./strategies.ts";
export { inboundComponent } from "./webhook.ts";
