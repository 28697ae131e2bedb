/** The public face of execution/: what other rooms may use. */

export {
  executionComponent,
  marketDataOf,
  openAccountExchange,
  openExchange,
} from "./component.ts";
export {
  type Account,
  accountByName,
  DEFAULT_ACCOUNT_ID,
  listAccounts,
  requireAccount,
} from "./accounts.ts";
export {
  activePauses,
  liftPauses,
  pauseAccount,
  type PauseKind,
  pauseReason,
} from "./protections.ts";
