/**
 * Every bound of the service in one place, units last in the names. A limit that an operator
 * may need to change is also exposed through config; these are the defaults and hard caps.
 */
export const limits = {
  /**
   * A CLI transaction through a running serve's local socket holds the embedded database's
   * one session (the service waits behind it): longer than this, it is rolled back.
   */
  localTxMaxMs: 500,
  /** A CLI waits this long for each answer of the running serve (a dump: backupTimeoutS). */
  localRequestTimeoutMs: 10_000,
  /**
   * How long a backup may take (BACKUP_TIMEOUT_S): pg_dump is killed past it, and a CLI stops
   * waiting for a running serve's dump of the embedded database (the serve then deletes it).
   */
  backupTimeoutS: 1_800,
  backupTimeoutMaxS: 86_400,
  /** One request or reply line on the local socket. */
  localMessageMaxBytes: 16 * 1024 * 1024,
  /** CLI connections served at once. */
  localClientsMax: 16,
  /** TradingView cancels after 3 s; a body larger than this is refused with 413. */
  webhookBodyMaxBytes: 64 * 1024,
  /** Arrays and objects nested deeper than this in an alert are a 422 (an alert is flat). */
  webhookJsonDepthMax: 32,
  /** Log lines are written in batches, at most this long after the first line of a batch. */
  logFlushMs: 5,
  /** A batch this large is written at once, without waiting for the timer. */
  logFlushBytes: 64 * 1024,
  /**
   * The deadline of a webhook write, from the HTTP arrival: the database refuses to commit an
   * alert past it (migration 0009), so a 503 is never stored later.
   */
  webhookDbTimeoutMs: 2_000,
  /**
   * How much longer than the write's deadline the webhook waits before answering 503: the
   * time for a commit made just in time to reach the process.
   */
  webhookReplyMarginMs: 500,
  /** The longest wait of a pool connection before it tries to reconnect to PostgreSQL. */
  dbReconnectMaxDelayMs: 250,
  /** How far in the future an alert's `ts` may be (clock skew) before it is refused. */
  signalFutureSkewMs: 60_000,
  /** Rows a notify worker claims in one batch. */
  outboxBatchSize: 100,
  /** Polling fallback when no NOTIFY arrives. */
  outboxPollMs: 1_000,
  /** Telegram refuses messages longer than this (after entity parsing). */
  telegramMessageMaxChars: 4096,
  /** Failures before an outbox row is marked FAILED. */
  outboxMaxFailures: 5,
  /** Backoff schedule after the 1st, 2nd, … failure. */
  outboxRetryScheduleMs: [60_000, 120_000, 300_000, 900_000, 1_800_000],
  /** A claimed row is hidden from other workers this long; after a crash it is sent again. */
  outboxLeaseMs: 300_000,
  /** Messages of one worker in flight to Telegram at once. */
  outboxSendConcurrency: 16,
  /** Rows claimed per chat in one batch, in seconds of that chat's rate limit. */
  outboxClaimAheadS: 10,
  /** Failures listed by `outbox status`. */
  outboxRecentFailuresShown: 10,
  /** One "delivery failed" alert per chat within this window; later failures collapse into it. */
  outboxFailedAlertWindowMs: 3_600_000,
  /**
   * Bot API request timeout (grammY's timeoutSeconds; grammY's own default is 500 s). A send
   * that times out is retried and, if Telegram had accepted it, delivered twice: grammY's
   * usual 10 s doubled messages under a slow Bot API (docs/notifications.md).
   */
  telegramTimeoutS: 30,
  /** Connections in the postgres.js pool by default. */
  dbPoolSize: 10,
  /** Longest wait for one query outside a transaction before the database counts as down. */
  dbQueryTimeoutMs: 30_000,
  /** Time to wait for a TCP connection to the database server. */
  dbConnectTimeoutS: 5,
  /** How often `serve` checks it still holds the single-instance lock. */
  instanceLockCheckMs: 15_000,
  /** How long `serve` waits for in-flight work when asked to stop. */
  shutdownGraceMs: 10_000,
  /** Candles kept per symbol and timeframe. */
  candleWindow: 1_000,
  /** Exchange call timeout. */
  exchangeTimeoutMs: 10_000,
  /** Longest a loop backs off after repeated failures. */
  backoffMaxMs: 60_000,
  /** Rows per CSV import batch. */
  csvBatchRows: 500,
  /** A single CSV line longer than this is rejected (not buffered). */
  csvLineMaxBytes: 8 * 1024,
  /** The polled file of alerts (PULL_ALERTS_URL): a bigger body is refused, not read. */
  pullBodyMaxBytes: 4 * 1024 * 1024,
  /** One fetch of PULL_ALERTS_URL, headers and body. */
  pullTimeoutMs: 15_000,
  /** Submitted lines of the polled file remembered in memory (all are in pull_seen_lines). */
  pullSeenLinesMax: 20_000,
  /** Candles asked for per page by `candles download` (Binance's most). */
  historyPageCandles: 1000,
  /** Pages one `candles download` fetches at most (20 M candles: years of 1m). */
  historyPagesMax: 20_000,
  /** How often `serve` looks for a closed report period without its snapshot. */
  reportCheckMs: 60_000,
  /** Closed periods built in one catch-up at most (the newest; older ones are skipped). */
  reportCatchUpMax: { daily: 62, weekly: 12 },
  /**
   * How long the schedule holds a closed period's report while candles of a symbol it values
   * have not reached its end (ingestion filling a downtime's gap); then it is built, naming them.
   */
  reportPriceWaitMs: 15 * 60_000,
  /** Polls failing in a row before one WARN is raised. */
  pullFailuresBeforeWarn: 3,
  /** Candles asked of the exchange in one call (Binance serves at most 1000). */
  ingestionPageCandles: 1_000,
  /** Pages fetched per symbol in one ingestion run to fill a gap; the rest waits a minute. */
  ingestionPagesMax: 5,
  /** Retries of one symbol's fetch within a run, with exponential backoff and jitter. */
  ingestionRetries: 3,
  /** First retry delay of an ingestion fetch; doubles per attempt. */
  ingestionRetryBaseMs: 1_000,
  /** Consecutive failed runs of a symbol before the operator is warned (once per outage). */
  ingestionWarnAfterFailures: 3,
  /**
   * A signal on a candle that closed more than this many periods ago only warms the
   * indicators: after a backfill or an outage the strategy never trades on stale candles.
   */
  strategySignalMaxAgeCandles: 2,
  /** Decision keys remembered in memory to suppress repeats before any I/O. */
  strategyKeysMax: 10_000,
  /** Bad CSV rows listed by line number in a backtest summary (all are counted). */
  backtestErrorsShownMax: 20,
  /** Candles read from the database per page by a backtest. */
  backtestDbPageCandles: 10_000,
  /** Candles `backtest --symbols` reads into memory at most (all symbols together). */
  backtestPortfolioCandlesMax: 5_000_000,
  /** Combinations one `backtest --sweep` runs at most. */
  sweepCombinationsMax: 10_000,
  /** Wait after a 429/418 from the exchange that gave no Retry-After. */
  exchangeRateLimitWaitMs: 60_000,
  /** Alerts the Execution agent claims in one pass, and how many it sends at once. */
  executionBatchSize: 50,
  /** Failed attempts (not temporary ones) before an alert is set aside as FAILED. */
  executionAlertMaxFailures: 5,
  executionConcurrency: 16,
  /** Alerts remembered as having waited once for a pass's cash (execution/process.ts). */
  executionCashWaitedMax: 10_000,
  /** A buy this close to SIGNAL_MAX_AGE_S does not wait for a pass's cash: it trades now. */
  executionCashWaitStaleMarginMs: 30_000,
  /**
   * The share (%) of the free cash a market buy sized by that cash leaves unspent: it fills at
   * the asks, above the last price it was sized at, and a buy of all the cash would be refused
   * ("insufficient balance") for a small move of the price.
   */
  marketBuyCashMarginPct: 0.5,
  /** Polling fallback for decisions whose wake-up was lost. */
  executionPollMs: 2_000,
  /** First retry of a failed execution start; doubles (with jitter) up to backoffMaxMs. */
  executionStartRetryMs: 500,
  /** How often UNKNOWN, NEW and open orders are checked against the exchange. */
  reconcileIntervalMs: 10_000,
  /**
   * A cancel an exit asked for that the exchange did not carry out is asked again once a
   * quarter of its age has passed since the last try, and at least this often
   * (execution/cancels.ts).
   */
  exitCancelRetryMaxMs: 60_000,
  /** An exit's cancel of an order that still rests this long after it was asked is told. */
  exitCancelWarnMs: 2 * 60_000,
  /**
   * How often a reconcile pass records the equity of an account holding positions, when the
   * daily loss limit or the drawdown lock is on (and at the first pass of each UTC day), so
   * the day's first equity is read near 00:00 UTC and not only at its first entry.
   */
  equityMarkIntervalMs: 5 * 60_000,
  /** A reconcile pass tries an unsettled equity reading again after this long. */
  equityUnsettledRetryMs: 60_000,
  /** A reconcile pass whose equity readings stay unsettled this long says so (WARN). */
  equityUnsettledWarnMs: 15 * 60_000,
  /** Orders checked per reconcile pass. */
  reconcileBatchSize: 100,
  /** A NEW or UNKNOWN order is looked up only once it is this old (its send may be in flight). */
  reconcileMinAgeMs: 5_000,
  /**
   * Lookups in a row that find an order filled beyond the trades the exchange shows of it before
   * that remainder is recorded from the order's own totals (its average price; its fee only when
   * it states one, else none). An order that states its fee is recorded from them at once.
   */
  untradedFillLookups: 3,
  /** "Not found" answers in a row, spread over at least this long, before an order is given up. */
  reconcileNotFoundMisses: 3,
  reconcileNotFoundMinAgeMs: 60_000,
  /**
   * Orders of one alert given up as never placed before the alert itself is given up: each
   * one hands the alert back to be planned again under a new client order id.
   */
  reconcileReplansMax: 3,
  /** Orders given up as never placed are looked at again this often, for this long after. */
  reconcileGivenUpRecheckMs: 5 * 60_000,
  reconcileGivenUpWindowMs: 24 * 60 * 60_000,
  /** UNKNOWN longer than this raises a WARN, then a CRITICAL. */
  unknownWarnMs: 5 * 60_000,
  unknownCriticalMs: 30 * 60_000,
  /** How often open positions are checked against their stop and target. */
  /** Exits per position and kind (stop, target) before the operator is asked to act. */
  riskExitAttemptsMax: 3,
  riskCheckMs: 5_000,
  /** How often markets and trading rules are synced from the exchange. */
  marketSyncIntervalMs: 60 * 60_000,
  /** Pause of new entries after the exchange said it is under maintenance. */
  maintenancePauseMs: 60_000,
  /** Strategy rows the intake keeps copies of (each copy is checked at the write, see 0005). */
  intakeStrategyCacheMax: 1_000,
  /** Writes retried when the strategy changed between its read and the write. */
  intakeStaleRetries: 3,
  /** Orders one /orders lists at most (the reply is split into several messages). */
  controlOrdersShownMax: 500,
  /** A "Confirm exit" button of a Telegram /exit works this long after it was sent. */
  controlConfirmTtlMs: 60_000,
  /** A user not in TELEGRAM_ADMIN_IDS gets at most one "not allowed" reply this often. */
  controlRefusalReplyEveryMs: 3_600_000,
  /** Refused users remembered for that limit (the oldest is forgotten first). */
  controlRefusedUsersMax: 10_000,
  /** Updates asked of getUpdates at once, and its long-poll wait (Telegram's limits: 100). */
  controlPollLimit: 100,
  controlPollTimeoutS: 25,
  /** Read-only Telegram commands (/status, …) queued beside the polling before it waits. */
  controlReadsQueuedMax: 20,
  /** How long /status, /positions and /profit wait for the prices, all looked up together. */
  controlPriceTimeoutMs: 3_000,
  /** A recorded last Telegram update older than this is not used (Telegram keeps 24 h). */
  controlUpdateMarkMaxAgeMs: 24 * 3_600_000,
  /** A command older than this (sent while the service was down) is answered, not run. */
  controlCommandMaxAgeMs: 10 * 60_000,
  /** Longest wait between getUpdates attempts after failures (a conflict, an outage). */
  controlPollBackoffMaxMs: 60_000,
  /** Bot API timeout of one reply, edit or callback answer (a late answer is worthless). */
  controlReplyTimeoutS: 10,
  /** A 429 on a reply is waited out once if Telegram asks for at most this long. */
  controlReplyRetryMaxMs: 5_000,
  /**
   * Writes of accepted signals in flight at once per database; the signals arriving meanwhile
   * are stored together in the next write (signals/record_batch.ts). Below DB_POOL_SIZE, so
   * the other work of the service keeps connections.
   */
  intakeWritesInFlight: 2,
  /**
   * Signals that must be waiting before a write goes alongside one already in flight; fewer
   * wait for it to finish and go together after it.
   */
  intakeWriteJoinMin: 4,
  /** Signals stored by one write at most. */
  intakeWriteBatchMax: 64,
} as const;
