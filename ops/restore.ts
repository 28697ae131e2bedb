/**
 * Restores a backup made by `backup`: a pg_dump archive into an empty server database, or a
 * data-dir dump into an empty DATA_DIR; then migrations bring the schema up to date. A
 * non-empty target is refused unless `force`: on a server the existing objects are dropped
 * (pg_restore --clean); an embedded DATA_DIR's old data is moved aside, not deleted, and a
 * restore killed midway leaves DATA_DIR saying so to every opener, until it is run again.
 * Outbox rows still PENDING in the backup are delivered by the next serve, once each: their
 * dedupe_key rows come back with them, so nothing is enqueued twice.
 * A restore takes the single-instance lock `serve` takes, and holds it to the end: it refuses
 * while a serve runs against the target, and a serve started meanwhile refuses to start.
 * (`backup` takes no such lock: backups are taken while serve runs.)
 * Before anything is replaced, the backup is looked into: a damaged one, one that is not a
 * pg-solo-lite database, or one written by a newer pg-solo-lite (migrations this version does
 * not know) is refused with the target untouched.
 */
import { RuntimeError, UsageError } from "../core/errors.ts";
import {
  describeHolder,
  InstanceLockedError,
  loadMigrations,
  type LockHolder,
  migrate,
  openDb,
  openEmbeddedAt,
  openEmbeddedCopy,
  readRestoreMarker,
  removeRestoreMarker,
  RESTORE_MARKER,
  writeRestoreMarker,
} from "../db/mod.ts";
import type { Config } from "../core/config.ts";
import { checkTool, runTool, serverMajor, toolConnection } from "./tools.ts";

export type BackupKind = "server" | "embedded";

/** What kind of backup a file is, from its first bytes. */
export async function backupKind(file: string): Promise<BackupKind> {
  const f = await Deno.open(file, { read: true });
  try {
    const head = new Uint8Array(5);
    const n = await f.read(head) ?? 0;
    if (n === 5 && new TextDecoder().decode(head) === "PGDMP") return "server";
    if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "embedded";
  } finally {
    f.close();
  }
  throw new UsageError(`${file} is not a pg-solo-lite backup (pg_dump archive or data-dir dump)`);
}

export interface Restored {
  kind: BackupKind;
  /** Where the replaced embedded data is (with --force), moved by this or an interrupted restore. */
  movedAside?: string;
  /** Where an interrupted restore's incomplete embedded database was moved. */
  incompleteAside?: string;
  migrationsApplied: string[];
  /** Server: whether db/roles.sql was applied again (its roles exist on this server). */
  rolesApplied?: boolean;
  /**
   * With --force over a database: its orders the backup does not have (placed after the
   * backup was taken). They may rest or have filled on the exchange, and the restored
   * database, so serve and its reconciliation, knows nothing of them. Undefined when no
   * database was replaced or its orders could not be read.
   */
  ordersNotInBackup?: LostOrder[];
}

export interface LostOrder {
  clientOrderId: string;
  symbol: string;
  status: string;
}

const ORDERS_SQL = "select client_order_id, symbol, status from orders order by id";
type OrderRow = { client_order_id: string; symbol: string; status: string };

/** The orders of `current` whose client order id is not among the backup's. */
function lostOrders(
  current: OrderRow[] | undefined,
  inBackup: Set<string>,
): LostOrder[] | undefined {
  return current?.filter((o) => !inBackup.has(o.client_order_id)).map((o) => ({
    clientOrderId: o.client_order_id,
    symbol: o.symbol,
    status: o.status,
  }));
}

export async function restoreBackup(
  config: Config,
  file: string,
  options: { force?: boolean; now: Date },
): Promise<Restored> {
  const kind = await backupKind(file);
  const target = config.databaseUrl ? "server" : "embedded";
  if (kind !== target) {
    throw new UsageError(
      `${file} is a${kind === "server" ? " server" : "n embedded"} backup but the target is ${
        target === "server" ? "DATABASE_URL" : `the embedded database in ${config.dataDir}`
      }`,
    );
  }
  return kind === "server"
    ? await restoreServer(config, file, options.force ?? false)
    : await restoreEmbedded(config, file, options);
}

/**
 * Why a restore cannot run: the lock is held. Only serve and restore take a server's lock, and
 * a holder that did not say which is a serve started before it recorded that; DATA_DIR's lock
 * is taken by every command that opens it without a serve.
 */
function lockedMessage(holder: LockHolder | undefined, kind: BackupKind): string {
  const who = holder?.command ?? (kind === "server" ? "serve" : undefined);
  return `Cannot restore: ${
    who ? `${who} is running against` : "another pg-solo-lite command is using"
  } this database (${describeHolder(holder)}); stop it first${
    who === "serve" ? " (systemctl stop pg-solo-lite)" : ""
  }, then restore`;
}

async function restoreServer(config: Config, file: string, force: boolean): Promise<Restored> {
  const db = await openDb(config, { command: "restore" });
  try {
    // Held on a connection of its own until close(): pg_restore runs in another process.
    if (!(await db.tryLockInstance())) {
      throw new RuntimeError(
        lockedMessage(await db.instanceLockHolder?.().catch(() => undefined), "server"),
      );
    }
    const [{ n }] = await db.query<{ n: number }>(
      "select count(*)::int as n from pg_tables where schemaname = 'public'",
    );
    if (n > 0 && !force) {
      throw new RuntimeError(
        `The target database is not empty (${n} tables); restore into an empty database, or pass --force to replace its contents`,
      );
    }
    await checkTool("pg_restore", await serverMajor(db));
    const conn = toolConnection(config.databaseUrl!);
    // The archive's own schema_migrations rows, read from the file (no connection is made).
    const copy = await runTool(
      "pg_restore",
      ["--data-only", "--table=schema_migrations", "--file=-", file],
      conn.env,
    );
    await checkBackupSchema(file, migrationsInCopy(copy));
    let ordersNotInBackup: LostOrder[] | undefined;
    if (n > 0) {
      const current = await db.query<OrderRow>(ORDERS_SQL).catch(() => undefined);
      const theirs = await runTool(
        "pg_restore",
        ["--data-only", "--table=orders", "--file=-", file],
        conn.env,
      );
      const ids = new Set(copyRows(theirs, "orders").map((r) => r.client_order_id));
      ordersNotInBackup = lostOrders(current, ids);
    }
    const clean = n > 0 ? ["--clean", "--if-exists"] : [];
    await runTool(
      "pg_restore",
      [
        "--no-owner",
        // The grants name roles of the source cluster (db/roles.sql's), which a new machine may
        // not have yet: they would abort the whole restore. They are applied again below.
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        ...clean,
        `--dbname=${conn.url}`,
        file,
      ],
      conn.env,
    );
    const { applied } = await migrate(db);
    // The least-privilege roles get their rights back when they exist here; else run
    // db/roles.sql once they are created (docs/operations.md).
    const [roles] = await db.query<{ n: number }>(
      "select count(*)::int as n from pg_roles where rolname in ('pgsl_app', 'pgsl_notifier')",
    );
    const rolesApplied = roles.n === 2;
    if (rolesApplied) {
      await db.exec(await Deno.readTextFile(new URL("../db/roles.sql", import.meta.url)));
    }
    return { kind: "server", migrationsApplied: applied, rolesApplied, ordersNotInBackup };
  } finally {
    await db.close();
  }
}

/**
 * DATA_DIR/restore.unfinished is written before DATA_DIR/pg is touched and removed once the
 * restored database is migrated and closed (db/restore_marker.ts): a restore killed in between
 * leaves DATA_DIR refusing every open with where the previous data is. A restore over such a
 * marker keeps the previous data where the marker says and moves the incomplete database aside;
 * nothing is ever deleted.
 */
async function restoreEmbedded(
  config: Config,
  file: string,
  options: { force?: boolean; now: Date },
): Promise<Restored> {
  const dataDir = config.dataDir;
  const pgDir = `${dataDir}/pg`;
  const backup = await Deno.realPath(file);
  const blob = new Blob([await Deno.readFile(file)]);
  const inBackup = await checkEmbeddedBackup(file, blob);
  // Read before the restore takes DATA_DIR's lock (this open takes it for a moment): what
  // would be replaced. A DATA_DIR that cannot be opened (serve holds it, an interrupted
  // restore) is left to the restore's own refusal or handling.
  const current = options.force && await nonEmptyDir(pgDir)
    ? await currentEmbeddedOrders(dataDir)
    : undefined;
  const stamp = options.now.toISOString().replace(/[-:.]/g, "");
  let movedAside: string | undefined;
  let incompleteAside: string | undefined;
  let complete = false;
  // The old data is checked and moved aside with DATA_DIR locked, so no serve can open it in
  // between; the lock is held until the restored database is migrated and closed.
  const beforeOpen = async () => {
    const marker = await readRestoreMarker(dataDir);
    const hasPg = await nonEmptyDir(pgDir);
    // Absolute, as the marker and the messages name it: later commands may run elsewhere.
    const aside = `${await Deno.realPath(dataDir)}/pg`;
    // Whether DATA_DIR/pg is the operator's data (moved to movedAside) or an interrupted
    // restore's incomplete database (moved to incompleteAside).
    let pgIsPrevious = false;
    if (marker === undefined) {
      pgIsPrevious = hasPg;
    } else if (marker?.movedAside && !(await exists(marker.movedAside))) {
      // Interrupted before it moved the old data, or the operator moved it back: pg is it.
      pgIsPrevious = hasPg;
      if (hasPg) movedAside = marker.movedAside;
    } else {
      movedAside = marker?.movedAside;
      if (hasPg) incompleteAside = await freeName(`${aside}.interrupted-restore-${stamp}`);
    }
    if (pgIsPrevious) movedAside ??= await freeName(`${aside}.before-restore-${stamp}`);
    if (marker === null && hasPg && !options.force) {
      // Written whole or not at all, so someone edited it: DATA_DIR/pg may be anyone's.
      throw new RuntimeError(
        `DATA_DIR ${dataDir} holds ${dataDir}/${RESTORE_MARKER}, which cannot be read, and a database; pass --force to move that database aside and restore`,
      );
    }
    if (movedAside && !options.force) {
      throw new RuntimeError(
        pgIsPrevious
          ? `DATA_DIR ${dataDir} already holds a database; restore into an empty DATA_DIR, or pass --force to move the current one aside`
          : `DATA_DIR ${dataDir} holds an interrupted restore of ${
            marker!.backup
          }; the previous data is in ${movedAside}; pass --force to restore over it (${movedAside} is kept)`,
      );
    }
    await writeRestoreMarker(dataDir, { backup, startedAt: options.now.toISOString(), movedAside });
    if (incompleteAside) await Deno.rename(pgDir, incompleteAside);
    if (pgIsPrevious) await Deno.rename(pgDir, movedAside!);
  };
  let db;
  try {
    db = await openEmbeddedAt(dataDir, {
      loadDataDir: blob,
      command: "restore",
      restore: true,
      beforeOpen,
      beforeUnlock: async () => {
        if (complete) await removeRestoreMarker(dataDir);
      },
    });
  } catch (error) {
    if (error instanceof InstanceLockedError) {
      throw new RuntimeError(lockedMessage(error.holder, "embedded"));
    }
    if (movedAside) {
      throw new RuntimeError(
        `The restore failed; the previous data is in ${movedAside} (run the restore again, or move it back to ${pgDir} and delete ${dataDir}/${RESTORE_MARKER} to undo): ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
    throw error;
  }
  try {
    const { applied } = await migrate(db);
    complete = true;
    return {
      kind: "embedded",
      movedAside,
      incompleteAside,
      migrationsApplied: applied,
      ordersNotInBackup: lostOrders(current, inBackup),
    };
  } finally {
    await db.close();
  }
}

/** A backup's applied migrations, as its schema_migrations table holds them. */
interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
}

const UNCHANGED = "nothing was changed";

/**
 * Refuses a backup whose schema this version cannot serve: none at all (not a pg-solo-lite
 * database), a migration it does not ship (written by a newer version, whose code the schema
 * belongs to), or a migration whose text differs from the one shipped (migrate would refuse it
 * once the data is replaced).
 */
async function checkBackupSchema(file: string, applied: AppliedMigration[]): Promise<void> {
  if (applied.length === 0) {
    throw new UsageError(
      `${file} is not a pg-solo-lite database (it has no schema_migrations rows); ${UNCHANGED}`,
    );
  }
  const shipped = new Map((await loadMigrations()).map((m) => [m.version, m]));
  const unknown = applied.filter((m) => !shipped.has(m.version)).map((m) => m.name);
  if (unknown.length > 0) {
    throw new UsageError(
      `${file} was written by a newer pg-solo-lite: its database has migration(s) ${
        unknown.join(", ")
      }, which this version does not ship, and would run on a schema it does not know; restore it with the version that wrote it (or a newer one); ${UNCHANGED}`,
    );
  }
  const changed = applied.filter((m) => shipped.get(m.version)!.checksum !== m.checksum);
  if (changed.length > 0) {
    throw new UsageError(
      `${file} has migration(s) ${
        changed.map((m) => m.name).join(", ")
      } with another text than this version's (a different build?); ${UNCHANGED}`,
    );
  }
}

/** The rows of a table in `pg_restore --data-only --table=T --file=-` output (a COPY block). */
function copyRows(sql: string, table: string): Record<string, string>[] {
  const lines = sql.split("\n");
  const head = new RegExp(`^COPY (\\S+\\.)?"?${table}"? \\((.*)\\) FROM stdin;$`);
  const start = lines.findIndex((l) => head.test(l));
  if (start < 0) return [];
  const cols = lines[start].match(head)![2].split(", ").map((c) => c.replace(/^"|"$/g, ""));
  const out: Record<string, string>[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line === "\\.") break;
    const f = line.split("\t");
    out.push(Object.fromEntries(cols.map((c, i) => [c, f[i]])));
  }
  return out;
}

function migrationsInCopy(sql: string): AppliedMigration[] {
  return copyRows(sql, "schema_migrations").map((r) => ({
    version: Number(r.version),
    name: r.name,
    checksum: r.checksum,
  }));
}

/** The orders of the database in `dataDir`, opened directly; undefined when it cannot be. */
async function currentEmbeddedOrders(
  dataDir: string,
): Promise<OrderRow[] | undefined> {
  let db;
  try {
    db = await openEmbeddedAt(dataDir, { command: "restore" });
  } catch {
    return undefined;
  }
  try {
    return await db.query<OrderRow>(ORDERS_SQL).catch(() => undefined);
  } finally {
    await db.close();
  }
}

/**
 * Refuses an embedded backup that cannot be restored, before DATA_DIR is touched: a gzip
 * stream that does not end whole (truncated, damaged), a tar PGlite cannot open as a data
 * directory, or a schema this version cannot serve. It is opened in memory, apart from DATA_DIR.
 */
async function checkEmbeddedBackup(file: string, blob: Blob): Promise<Set<string>> {
  try {
    for await (const _ of blob.stream().pipeThrough(new DecompressionStream("gzip"))) {
      // Read to the end: the gzip trailer's checksum is checked there.
    }
  } catch (error) {
    throw new UsageError(
      `${file} is damaged (${
        (error as Error).message
      }; truncated?) and cannot be restored; ${UNCHANGED}`,
    );
  }
  let copy;
  try {
    copy = await openEmbeddedCopy(blob);
  } catch (error) {
    throw new UsageError(
      `${file} is not a pg-solo-lite database PGlite can open (${
        (error as Error).message
      }); ${UNCHANGED}`,
    );
  }
  let applied: AppliedMigration[];
  let orders: { client_order_id: string }[];
  try {
    applied = await copy.query<AppliedMigration>(
      "select version, name, checksum from schema_migrations order by version",
    ).catch(() => []);
    orders = await copy.query<{ client_order_id: string }>(ORDERS_SQL).catch(() => []);
  } finally {
    await copy.close();
  }
  await checkBackupSchema(file, applied);
  // The client order ids it has, to tell which orders of the replaced database it lacks.
  return new Set(orders.map((o) => o.client_order_id));
}

/** `base`, or `base-2`, `base-3`…: the first that does not exist, so nothing is renamed onto. */
async function freeName(base: string): Promise<string> {
  for (let i = 1;; i++) {
    const name = i === 1 ? base : `${base}-${i}`;
    if (!(await exists(name))) return name;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function nonEmptyDir(path: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(path)) return true;
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
