/**
 * The embedded driver: PGlite in DATA_DIR. PGlite is one session, so a transaction must not
 * interleave with other queries: every call goes through one queue. An unclosed PGlite keeps
 * the process alive, so close() is always reached through `finally` in the callers.
 */
import { PGlite } from "@electric-sql/pglite";
import { type Db, describeHolder, InstanceLockedError, type LockHolder, type Sql } from "./db.ts";
import { type LocalServer, serveLocalSocket } from "./local_server.ts";
import { refuseUnfinishedRestore } from "./restore_marker.ts";

export interface EmbeddedDbOptions {
  /** Directory of the data files; undefined keeps the database in memory (tests). */
  dataDir?: string;
  /** A dump made by `dumpDataDir` to start from (per-test databases). */
  loadDataDir?: Blob | File;
  /** Serve CLI commands on DATA_DIR/run/db.sock while open (`serve`; see local_server.ts). */
  serveLocal?: boolean;
  /** The pg-solo-lite command of this process, recorded in the lock file (see LockHolder). */
  command?: string;
  /**
   * Runs once the data directory is locked and before PGlite opens it (a restore moves the
   * old data aside here, so no other process can open DATA_DIR in between).
   */
  beforeOpen?: () => Promise<void>;
  /**
   * This open is a restore, which deals with DATA_DIR/restore.unfinished itself; every other
   * open refuses while that marker is there (see restore_marker.ts).
   */
  restore?: boolean;
  /** Runs in close() once PGlite has closed, before DATA_DIR is unlocked. */
  beforeUnlock?: () => Promise<void>;
}

const LOCK_FILE = "pg-solo-lite.lock";

export async function openEmbeddedDb(options: EmbeddedDbOptions = {}): Promise<Db> {
  let releaseLock: (() => Promise<void>) | undefined;
  if (options.dataDir) {
    await Deno.mkdir(options.dataDir, { recursive: true });
    releaseLock = await acquireDirLock(options.dataDir, options.command);
  }
  let pg: PGlite;
  try {
    if (options.dataDir && !options.restore) await refuseUnfinishedRestore(options.dataDir);
    await options.beforeOpen?.();
    pg = await PGlite.create({
      // PGlite owns a subdirectory; DATA_DIR itself holds the lock file beside it.
      dataDir: options.dataDir ? `${options.dataDir}/pg` : undefined,
      loadDataDir: options.loadDataDir,
    });
  } catch (error) {
    await releaseLock?.();
    throw error;
  }
  // A FIFO of whole units of work: a transaction holds the session until it ends.
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => {});
    return run;
  };
  const direct: Sql = {
    query: async <T>(text: string, params: readonly unknown[] = []) =>
      (await pg.query<T>(text, params as unknown[])).rows,
    exec: async (text: string) => void (await pg.exec(text)),
  };
  let closed = false;
  let local: LocalServer | undefined;

  const db: Db = {
    kind: "embedded",
    query: (text, params) => serial(() => direct.query(text, params)),
    exec: (text) => serial(() => direct.exec(text)),
    transaction: (fn) =>
      serial(() =>
        pg.transaction((tx) =>
          fn({
            query: async <T>(text: string, params: readonly unknown[] = []) =>
              (await tx.query<T>(text, params as unknown[])).rows,
            exec: async (text: string) => void (await tx.exec(text)),
          })
        )
      ),
    listen: async (channel, onPayload) => {
      const stop = await serial(() => pg.listen(channel, onPayload));
      return () => serial(() => stop());
    },
    dumpDataDir: () => serial(() => pg.dumpDataDir("gzip")),
    // The data directory is locked for the whole life of the handle (see acquireDirLock).
    tryLockInstance: () => Promise.resolve(true),
    close: async () => {
      if (closed) return;
      closed = true;
      // Clients first: an open client transaction rolls back before the session closes.
      await local?.close();
      await tail;
      try {
        await pg.close();
        await options.beforeUnlock?.();
      } finally {
        if (releaseLock) await releaseLock();
      }
    },
  };
  if (options.serveLocal && options.dataDir) {
    try {
      local = await serveLocalSocket(db, options.dataDir);
    } catch (error) {
      await db.close();
      throw error;
    }
  }
  return db;
}

/**
 * Two processes opening one PGlite directory would corrupt it, so an embedded database is
 * exclusive to one process: an exclusive flock on a file beside the data, taken before PGlite
 * opens. The kernel drops the lock when the process dies, even by kill -9, so no stale lock
 * can stop the next start. Deno has no non-blocking flock, so a lock not granted within a
 * moment is taken as held by another process.
 */
async function acquireDirLock(
  dataDir: string,
  command: string | undefined,
): Promise<() => Promise<void>> {
  const path = `${dataDir}/${LOCK_FILE}`;
  const file = await Deno.open(path, { create: true, read: true, write: true });
  const granted = await Promise.race([
    file.lock(true).then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), 300)),
  ]);
  if (!granted) {
    const holder = parseLockFile(await Deno.readTextFile(path).catch(() => ""));
    file.close();
    const who = [holder.command, describeHolder(holder)].filter(Boolean).join(", ");
    throw new InstanceLockedError(
      `The embedded database in ${dataDir} is in use by another process (${who}); stop it (pg-solo-lite serve?) first, or use a PostgreSQL server through DATABASE_URL`,
      holder,
    );
  }
  const me: LockHolder = { command, pid: Deno.pid, host: hostname() };
  await file.truncate(0);
  await file.write(new TextEncoder().encode(JSON.stringify(me)));
  return async () => {
    await file.unlock().catch(() => {});
    file.close();
  };
}

/** The holder written in the lock file: JSON, or only a pid (written by older versions). */
function parseLockFile(text: string): LockHolder {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { pid: Number(t) };
  try {
    const v = JSON.parse(t);
    return {
      command: typeof v.command === "string" ? v.command : undefined,
      pid: Number.isInteger(v.pid) ? v.pid : undefined,
      host: typeof v.host === "string" ? v.host : undefined,
    };
  } catch {
    return {};
  }
}

function hostname(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    return undefined; // Not allowed (--allow-sys).
  }
}
