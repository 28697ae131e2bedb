/** The server driver: postgres.js, a pool of DB_POOL_SIZE connections. */
import postgres from "postgres";
import { DatabaseUnavailableError } from "../core/errors.ts";
import { redactText } from "../core/redact.ts";
import { limits } from "../core/limits.ts";
import { DeadlineError, isDeadlineError, withTimeout } from "../core/deadline.ts";
import {
  type Db,
  INSTANCE_LOCK_KEY,
  type LockHolder,
  type QueryOptions,
  type Sql,
  sqlState,
} from "./db.ts";
import { splitUrlSecrets, unreadableUrl } from "./url.ts";

export interface ServerDbOptions {
  url: string;
  poolSize?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** How long a pool query may take before it is cancelled (limits.dbQueryTimeoutMs). */
  queryTimeoutMs?: number;
  /**
   * The pg-solo-lite command of this process ("serve", "restore"), recorded with the instance
   * lock so that a process refused by it can say who holds it.
   */
  command?: string;
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

/** `url`: without its password (splitUrlSecrets), which redacting the URL's text could miss. */
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

/**
 * The lock connection's application_name: "<name>:lock <command> <pid>@<host>". Any session
 * can read it in pg_stat_activity (unlike the client address), and it names the process rather
 * than its PostgreSQL backend. PostgreSQL keeps the first 63 bytes.
 */
function lockAppName(name: string, command: string | undefined): string {
  let host = "";
  try {
    host = Deno.hostname();
  } catch {
    // Not allowed (--allow-sys): the pid alone.
  }
  return `${name}:lock ${command ?? "-"} ${Deno.pid}@${host}`.slice(0, 63);
}

/** The URL without an application_name of its own, which would replace lockAppName's. */
function lockUrl(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  const kept = url.slice(q + 1).split("&").filter((p) => !/^application_name(=|$)/.test(p));
  return url.slice(0, q) + (kept.length > 0 ? `?${kept.join("&")}` : "");
}

const LOCK_APP_NAME = /:lock (\S+) (\d+)@(\S*)$/;

function parseLockAppName(app: string | null, addr: string | null): LockHolder {
  const m = app?.match(LOCK_APP_NAME);
  if (!m) return { host: addr ?? undefined };
  return { command: m[1] === "-" ? undefined : m[1], pid: Number(m[2]), host: m[3] || undefined };
}

// deno-lint-ignore no-explicit-any
function newClient(url: string, options: postgres.Options<any>): PgSql {
  try {
    return postgres(url, options);
  } catch (error) {
    if (error instanceof TypeError) throw unreadableUrl();
    throw error;
  }
}

// Longer than ~80 lines: one closure over the pool: the Db methods are each a few lines.
export async function openServerDb(options: ServerDbOptions): Promise<Db> {
  const { url, password } = splitUrlSecrets(options.url);
  // postgres.js's "Invalid URL" quotes the URL, which may hold a password it could not find in
  // it (one with a raw "?" reads as a query): said without it.
  const sql: PgSql = newClient(url, {
    password,
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
      throw mapError(error, url);
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
      lockSql ??= newClient(lockUrl(url), {
        password,
        max: 1,
        max_lifetime: null,
        idle_timeout: 0,
        connect_timeout: limits.dbConnectTimeoutS,
        // The driver's own backoff grows 3^n with a count of failed connects it never resets:
        // after a few PostgreSQL restarts a connection waited up to 20 s before trying again.
        // A short fixed cap is enough for a pool this small, and the webhook is back within 2 s.
        backoff: (retries: number) => Math.min(0.05 * retries, limits.dbReconnectMaxDelayMs / 1000),
        onnotice: () => {},
        connection: {
          application_name: lockAppName(options.applicationName ?? "pg-solo-lite", options.command),
        },
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
        throw mapError(error, url);
      }
    },
    instanceLockHolder: async () => {
      const [row] = await db.query<{ app: string | null; addr: string | null }>(
        `select a.application_name as app, host(a.client_addr) as addr
           from pg_locks l left join pg_stat_activity a on a.pid = l.pid
          where l.locktype = 'advisory' and l.classid = 0 and l.objid = $1 and l.objsubid = 1
            and l.granted
            and l.database = (select oid from pg_database where datname = current_database())
          limit 1`,
        [INSTANCE_LOCK_KEY],
      );
      return row ? parseLockAppName(row.app, row.addr) : undefined;
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
