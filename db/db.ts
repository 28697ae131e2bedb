/**
 * One small interface over the two drivers: postgres.js for a server (DATABASE_URL) and PGlite
 * embedded in DATA_DIR. Queries are SQL text with $1… parameters. Types arrive the same way
 * from both: numeric as decimal strings, int8 as numbers, timestamptz as Date, jsonb parsed.
 */
import { RuntimeError } from "../core/errors.ts";

export type Row = Record<string, unknown>;

export interface QueryOptions {
  /**
   * Keep the statement prepared on each server connection (postgres.js; PGlite ignores it).
   * Only for constant SQL text on hot paths: the driver caches one statement per distinct
   * text and connection, without a bound. An unprepared statement with parameters costs two
   * round trips in postgres.js (describe, then execute); a prepared one costs one.
   */
  prepare?: boolean;
}

export interface Sql {
  /** Runs one parameterised statement and returns its rows. */
  query<T = Row>(text: string, params?: readonly unknown[], options?: QueryOptions): Promise<T[]>;
  /** Runs several statements without parameters (migrations, scripts). */
  exec(text: string): Promise<void>;
}

export interface Db extends Sql {
  readonly kind: "server" | "embedded";
  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /** Calls `onPayload` for each NOTIFY on `channel`; resolves to a function that stops. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * Takes the single-instance lock for this database (a session advisory lock on a server, a
   * file lock in DATA_DIR when embedded). False when another process holds it. Called again,
   * it checks the lock is still held and takes it back if its connection was lost.
   */
  tryLockInstance(): Promise<boolean>;
  /** Who holds the single-instance lock, as it recorded itself (after tryLockInstance said no). */
  instanceLockHolder?(): Promise<LockHolder | undefined>;
  /**
   * Embedded only: a consistent copy of the data directory (gzipped tar, PGlite's
   * dumpDataDir), taken between two units of work; `loadDataDir` opens it again. Through a
   * running serve the wait is bounded by `timeoutMs` (a DeadlineError); in the process that
   * holds the database it cannot be interrupted.
   */
  dumpDataDir?(options?: { timeoutMs?: number }): Promise<Blob>;
  close(): Promise<void>;
}

/**
 * The process holding the single-instance lock, as it recorded itself when taking it (the
 * lock connection's application_name on a server, the lock file in DATA_DIR when embedded).
 */
export interface LockHolder {
  /** The pg-solo-lite command: "serve", "restore"; undefined for another command. */
  command?: string;
  pid?: number;
  host?: string;
}

/** "pid 4242 on host alpha": who holds the lock, for a message. */
export function describeHolder(holder: LockHolder | undefined): string {
  const parts = [
    holder?.pid !== undefined ? `pid ${holder.pid}` : "",
    holder?.host ? `on host ${holder.host}` : "",
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(" ") : "pid and host unknown";
}

/** The embedded database is held by another process (its file lock is taken). */
export class InstanceLockedError extends RuntimeError {
  override name = "InstanceLockedError";
  constructor(message: string, readonly holder?: LockHolder) {
    super(message);
  }
}

/** The key of the advisory lock held by a running `serve` ("pgsl" in ASCII). */
export const INSTANCE_LOCK_KEY = 0x7067736c;
/** The key of the advisory lock taken while migrations run. */
export const MIGRATION_LOCK_KEY = 0x7067736d;

/** SQLSTATE of an error from either driver, if it has one. */
export function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown } | null;
  return typeof e?.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
}

export const isUniqueViolation = (e: unknown) => sqlState(e) === "23505";
export const isCheckViolation = (e: unknown) => sqlState(e) === "23514";
