/** The public face of signals/: what other rooms may use. */

export {
  intakeAlert,
  type IntakeResult,
  recordDecision,
  recordInvalid,
  symbolResolver,
} from "./intake.ts";
export {
  listStrategyRows,
  readStrategyRow,
  STRATEGY_NAME,
  type StrategyRow,
  upsertStrategy,
} from "./strategies.ts";
export * as alerts from "./alerts_sql.ts";
export type { ClaimedAlert } from "./alerts_sql.ts";
export { inboundComponent } from "./webhook.ts";
