/** The server driver: postgres.js, a pool of DB_POOL_SIZE connections. */
import postgres from "postgres";
import { DatabaseUnavailableError } from "../core/errors.ts";
import { redactText } from "../core/redact.ts";
import { limits } from "../core/limits.ts";
import { DeadlineError, isDeadlineError, withTimeout } from "../core/deadline.ts";
import { type Db, INSTANCE_LOCK_KEY, type QueryOptions, type Sql, sqlState } from "./db.ts";

export interface ServerDbOptions {
  url: string;
  poolSize?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** How long a pool query may take before it is cancelled (limits.dbQueryTimeoutMs). */
  queryTimeoutMs?: number;
}

// deno-lint-ignore no-explicit-any
type PgSql = postgres.Sql<any>;

const wrap = (sql: PgSql | postgres.TransactionSql): Sql => ({
  query: async <T>(text: string, params: readonly unknown[] = [], options?: QueryOptions) =>
    // deno-lint-ignore no-explicit-any
    (await sql.unsafe(text, params as any[], {
      prepare: options?.prepare === true,
    })) as unknown as T[],
  // Without parameters postgres.js uses the simple protocol, which allows several statements.
  exec: async (text: string) => void (await sql.unsafe(text)),
});

/**
 * A pool query that is cancelled when its wait runs out: taken out of the driver's queue if it
 * was not sent yet, or cancelled on the server (a CancelRequest) if it runs. Without the cancel
 * a statement reported as timed out could still commit later — an order insert the caller
 * believed lost would then exist unseen. (A statement that commits in the very moment the wait
 * ends is still reported as timed out: callers treat a DeadlineError as "unknown", never as
 * "not done".)
 */
async function boundedQuery<T>(
  sql: PgSql,
  text: string,
  params: readonly unknown[],
  options: QueryOptions | undefined,
  ms: number,
): Promise<T[]> {
  // deno-lint-ignore no-explicit-any
  const pending = sql.unsafe(text, params as any[], { prepare: options?.prepare === true });
  try {
    return (await withTimeout(pending, ms, "Query")) as unknown as T[];
  } catch (error) {
    if (isDeadlineError(error)) {
      // The cancel's own outcome (the query's rejection) is not waited for.
      pending.catch(() => {});
      pending.cancel();
    }
    throw error;
  }
}

/** Errors that mean "no server to talk to", as opposed to an SQL error. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  const state = sqlState(error);
  return (
    [
      "ECONNREFUSED",
      "ECONNRESET",
      // A write to a connection the server has closed ("This socket has been ended by the
      // other party"), e.g. right after PostgreSQL terminated the backend.
      "EPIPE",
      "ETIMEDOUT",
      "ENOTFOUND",
      "EAI_AGAIN",
      "CONNECT_TIMEOUT",
      "CONNECTION_CLOSED",
      "CONNECTION_ENDED",
      "CONNECTION_DESTROYED",
    ]
      .includes(code ?? "") ||
    (state !== undefined &&
      (state.startsWith("08") || state === "57P01" || state === "57P03" || state === "3D000" ||
        state === "28P01" || state === "28000"))
  );
}

function mapError(error: unknown, url: string): unknown {
  if (error instanceof DatabaseUnavailableError) return error;
  if (error instanceof DeadlineError) {
    return new DatabaseUnavailableError(
      `The database did not answer within ${error.ms} ms; check that PostgreSQL is running`,
      { cause: error },
    );
  }
  if (!isConnectionError(error)) return error;
  const where = redactText(url).replace(/\?.*$/, "");
  const reason = redactText(error instanceof Error ? error.message : String(error));
  return new DatabaseUnavailableError(
    `Cannot reach the database at ${where}: ${reason}; check DATABASE_URL and that PostgreSQL is running`,
    { cause: error },
  );
}

// Longer than ~80 lines: one closure over the pool: the Db methods are each a few lines.
export async function openServerDb(options: ServerDbOptions): Promise<Db> {
  const sql: PgSql = postgres(options.url, {
    max: options.poolSize ?? limits.dbPoolSize,
    connect_timeout: limits.dbConnectTimeoutS,
    // The driver's own backoff grows 3^n with a count of failed connects it never resets:
    // after a few PostgreSQL restarts a connection waited up to 20 s before trying again.
    // A short fixed cap is enough for a pool this small, and the webhook is back within 2 s.
    backoff: (retries: number) => Math.min(0.05 * retries, limits.dbReconnectMaxDelayMs / 1000),
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? "pg-solo-lite" },
    // int8 as a JS number (ids and counts stay far below 2^53); numeric stays a string.
    types: {
      int8: {
        to: 20,
        from: [20],
        serialize: (x: unknown) => String(x),
        parse: (x: string) => Number(x),
      },
      // As PGlite does: a string is taken as JSON text, anything else is stringified. Without
      // this a JSON.stringify'd parameter would be stored as one JSON string scalar.
      json: {
        to: 3802,
        from: [114, 3802],
        serialize: (x: unknown) => typeof x === "string" ? x : JSON.stringify(x),
        parse: (x: string) => JSON.parse(x),
      },
    },
  });
  const queryTimeoutMs = options.queryTimeoutMs ?? limits.dbQueryTimeoutMs;
  let lockSql: PgSql | undefined;
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw mapError(error, options.url);
    }
  };
  await guard(() => sql`select 1`);

  const db: Db = {
    kind: "server",
    // A bounded wait: a query sent as a connection dies can otherwise hang for ever.
    query: (text, params, options) =>
      guard(() => boundedQuery(sql, text, params ?? [], options, queryTimeoutMs)),
    exec: (text) => guard(() => wrap(sql).exec(text)),
    transaction: (fn) =>
      guard(async () => (await sql.begin((tx) => fn(wrap(tx)))) as Awaited<ReturnType<typeof fn>>),
    listen: async (channel, onPayload) => {
      const sub = await guard(() => sql.listen(channel, onPayload));
      return () => sub.unlisten();
    },
    tryLockInstance: async () => {
      // A session lock lives as long as its connection: a client of its own with one
      // connection that is never recycled. If the connection dies (a database restart), the
      // client reconnects on the next query and the check below takes the lock again.
      // (A reserved pool connection is not used: postgres.js throws an uncaught error when a
      // reserved connection's socket is gone.)
      lockSql ??= postgres(options.url, {
        max: 1,
        max_lifetime: null,
        idle_timeout: 0,
        connect_timeout: limits.dbConnectTimeoutS,
        // The driver's own backoff grows 3^n with a count of failed connects it never resets:
        // after a few PostgreSQL restarts a connection waited up to 20 s before trying again.
        // A short fixed cap is enough for a pool this small, and the webhook is back within 2 s.
        backoff: (retries: number) => Math.min(0.05 * retries, limits.dbReconnectMaxDelayMs / 1000),
        onnotice: () => {},
        connection: { application_name: `${options.applicationName ?? "pg-solo-lite"}:lock` },
      });
      const ls = lockSql;
      try {
        const [row] = await withTimeout(
          ls`select exists (select 1 from pg_locks where locktype = 'advisory'
                and pid = pg_backend_pid() and objid = ${INSTANCE_LOCK_KEY} and granted)
                or pg_try_advisory_lock(${INSTANCE_LOCK_KEY}) as ok`,
          limits.dbConnectTimeoutS * 1000,
        );
        return row.ok === true;
      } catch (error) {
        // A query sent just as the connection dies can hang in postgres.js: drop the client
        // and start a new one at the next check, which also takes the lock again.
        lockSql = undefined;
        ls.end({ timeout: 0 }).catch(() => {});
        throw mapError(error, options.url);
      }
    },
    close: async () => {
      if (lockSql) {
        await lockSql`select pg_advisory_unlock_all()`.catch(() => {});
        await lockSql.end({ timeout: 5 });
      }
      await sql.end({ timeout: 5 });
    },
  };
  return db;
}
