/**
 * Every bound of the service in one place, units last in the names. A limit that an operator
 * may need to change is also exposed through config; these are the defaults and hard caps.
 */
export const limits = {
  /** TradingView cancels after 3 s; a body larger than this is refused with 413. */
  webhookBodyMaxBytes: 64 * 1024,
  /** Requests waiting for the database before the webhook answers 503. */
  webhookDbTimeoutMs: 2_000,
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
  /** Bot API request timeout (grammY's timeoutSeconds). */
  telegramTimeoutS: 10,
  /** Connections in the postgres.js pool by default. */
  dbPoolSize: 10,
  /** Time to wait for a TCP connection to the database server. */
  dbConnectTimeoutS: 5,
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
} as const;
