/** The public face of execution/: what other rooms may use. */

export {
  type Account,
  accountByName,
  type AccountMode,
  accountTag,
  addAccount,
  DEFAULT_ACCOUNT_ID,
  DEFAULT_ACCOUNT_NAME,
  disableAccount,
  keysOf,
  ledgerBook,
  listAccounts,
  marketKeyOf,
  missingKeys,
  type NewAccount,
  openPositionCounts,
  requireAccount,
  setSubscriptions,
  subscriptions,
} from "./accounts.ts";
export {
  executionComponent,
  marketDataOf,
  openAccountExchange,
  openExchange,
} from "./component.ts";
export {
  activePauses,
  liftPauses,
  pauseAccount,
  type PauseKind,
  pauseReason,
} from "./protections.ts";
export { DEFAULT_TAKER_FEE } from "./plan.ts";
export { requestCancel } from "./cancels.ts";
