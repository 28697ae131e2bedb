/**
 * Every kind of notification the service sends, once: the `kind` column of
 * `notification_outbox`, shown in each message's header. The SQL functions of
 * db/migrations/0003 and 0005 also write `inbound_refused`; migrations are never edited, so
 * that literal stays there.
 */
export const NotificationKind = {
  // Signals
  inboundRefused: "inbound_refused",
  pullFailing: "pull_failing",
  pullRecovered: "pull_recovered",
  // Execution
  decisionRejected: "decision_rejected",
  decisionFailed: "decision_failed",
  orderPlaced: "order_placed",
  orderFilled: "order_filled",
  orderRejected: "order_rejected",
  orderUnknown: "order_unknown",
  orderFoundLate: "order_found_late",
  orderApplyFailed: "order_apply_failed",
  orderNeverPlaced: "order_never_placed",
  executionStartFailed: "execution_start_failed",
  accountOutage: "account_outage",
  protectionTripped: "protection_tripped",
  /** An account's equity readings stayed unsettled for 15 min; recorded again. */
  equityUnsettled: "equity_unsettled",
  equitySettled: "equity_settled",
  /** The cancel an exit asked for still rests on the exchange after a bound: asked again. */
  exitCancelStuck: "exit_cancel_stuck",
  /** A buy whose cancel an exit asked for filled first: a new position the exit did not sell. */
  filledAfterExit: "filled_after_exit",
  // Risk
  stopLoss: "stop_loss",
  takeProfit: "take_profit",
  /** A laddered take-profit's first slice filled: the stop moved up to break even. */
  breakeven: "breakeven",
  riskExitFailed: "risk_exit_failed",
  /** A protective stop on the exchange ended (cancelled, expired) while its position is open. */
  protectiveStop: "protective_stop",
  /** A position's trailing stop started to follow the price (once per position). */
  trailingStop: "trailing_stop",
  /** No price for one symbol (others priced) for a minute: its positions are unwatched. */
  priceMissing: "price_missing",
  priceRecovered: "price_recovered",
  /** A position could not get its stop on the exchange: only the software watch protects it. */
  protectionFailed: "protection_failed",
  /** The exchange held less of a position's base than recorded: the position written down. */
  holdingsShort: "holdings_short",
  // Control
  operatorExit: "operator_exit",
  controlAction: "control_action",
  heartbeat: "heartbeat",
  // Strategy
  ingestionFailing: "ingestion_failing",
  ingestionRecovered: "ingestion_recovered",
  // Reports
  report: "report",
  // Operations
  backupDone: "backup_done",
  backupFailed: "backup_failed",
  // Control (Telegram commands)
  telegramPollConflict: "telegram_poll_conflict",
  telegramPollRecovered: "telegram_poll_recovered",
  // Tests and benchmarks of delivery (never sent by the service)
  chaos: "chaos",
  // Loops that keep failing
  loopFailing: "loop_failing",
  loopRecovered: "loop_recovered",
  unhandledError: "unhandled_error",
  // Notify itself
  chatDeactivated: "chat_deactivated",
  /** A group became a supergroup: its registration moved to the new chat id (once per chat). */
  chatMigrated: "chat_migrated",
  outboxFailed: "outbox_failed",
} as const;

export type NotificationKind = typeof NotificationKind[keyof typeof NotificationKind];
