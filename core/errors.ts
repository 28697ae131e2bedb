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
