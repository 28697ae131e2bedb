/** The public face of signals/: what other rooms may use. */

export { importCsv, type ImportSummary } from "./csv_import.ts";
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
export { createPuller, type PullResult } from "./pull.ts";
export { pullComponent } from "./pull_component.ts";
