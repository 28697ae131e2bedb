/**
 * Errors grouped by what the caller does next. Every foreign error (ccxt, grammY, SQLSTATE)
 * is mapped once, at its boundary, into one of these, keeping the original as `cause`.
 */

/** Bad command line or configuration: the process stops with exit code 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(message: string, readonly problems: string[] = [message], options?: ErrorOptions) {
    super(message, options);
  }
}

/** A usage error on the command line (unknown command or flag): exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A temporary failure of something outside: retry later with backoff. */
export class TemporaryError extends Error {
  override name = "TemporaryError";
}

/** The other side is down for maintenance: pause calls to it for a while, then try again. */
export class MaintenanceError extends TemporaryError {
  override name = "MaintenanceError";
}

/** The other side asked us to slow down: wait `retryAfterMs` before the next call. */
export class RateLimitedError extends Error {
  override name = "RateLimitedError";
  constructor(message: string, readonly retryAfterMs: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The other side refused the request for good: record it, alert, never retry blindly. */
export class RejectedError extends Error {
  override name = "RejectedError";
}

/** Credentials are missing or wrong: alert the operator; retrying will not help. */
export class AuthError extends Error {
  override name = "AuthError";
}

/** The database cannot be reached. */
export class DatabaseUnavailableError extends Error {
  override name = "DatabaseUnavailableError";
}

/** A runtime failure the operator must act on (exit code 1), with a message saying what to do. */
export class RuntimeError extends Error {
  override name = "RuntimeError";
}

/**
 * What the caller does next about an error: the one classification behind every retry
 * decision (execution, reconcile, candle ingestion, the outbox worker).
 */
export type NextStep =
  /** Asked to slow down: wait at least `waitMs`, then try again. */
  | { step: "wait"; waitMs: number }
  /** The other side is in maintenance: pause for the caller's maintenance pause. */
  | { step: "pause" }
  /** The database cannot be reached: stop this pass; the loop backs off. */
  | { step: "database_down" }
  /** Passes by itself (network, 5xx, a lost answer, a busy database): try again later. */
  | { step: "retry" }
  /** Refused for good: record it, alert, never retry blindly. */
  | { step: "reject" }
  /** Credentials missing or wrong: alert the operator; retrying will not cure it. */
  | { step: "fix_credentials" }
  /** Bad configuration: stop. */
  | { step: "fix_config" }
  /** Not classified (a bug, bad data): count it, and give up after a few. */
  | { step: "unclassified" };

export function nextStep(error: unknown): NextStep {
  if (error instanceof RateLimitedError) return { step: "wait", waitMs: error.retryAfterMs };
  if (error instanceof MaintenanceError) return { step: "pause" };
  if (error instanceof DatabaseUnavailableError) return { step: "database_down" };
  if (error instanceof TemporaryError || isTransientSqlState(error)) return { step: "retry" };
  if (error instanceof RejectedError) return { step: "reject" };
  if (error instanceof AuthError) return { step: "fix_credentials" };
  if (error instanceof ConfigError) return { step: "fix_config" };
  return { step: "unclassified" };
}

/**
 * Database conditions that pass by themselves: serialization failures and deadlocks (40),
 * too many connections or out of resources (53), lock and statement timeouts, shutdown (57P).
 * Read here from the driver's `code` (a SQLSTATE), as db/db.ts sqlState reads it, because
 * core/ may not import db/.
 */
function isTransientSqlState(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return false;
  return code.startsWith("40") || code.startsWith("53") || code.startsWith("57") ||
    code === "55P03";
}

/** Exit code for an error reaching main.ts: 2 for usage and configuration, 1 for the rest. */
export function exitCodeFor(error: unknown): 1 | 2 {
  return error instanceof ConfigError || error instanceof UsageError ? 2 : 1;
}

/** Programmer errors: a failed assertion is a bug, never an outside condition. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Assertion failed: ${message}`);
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
