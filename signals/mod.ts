/** The public face of signals/: what other rooms may use. */

export {
  intakeAlert,
  type IntakeResult,
  recordDecision,
  recordInvalid,
  symbolResolver,
} from "./intake.ts";
export { inboundComponent } from "./webhook.ts";
