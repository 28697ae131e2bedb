/**
 * The embedded driver: PGlite in DATA_DIR. PGlite is one session, so a transaction must not
 * interleave with other queries: every call goes through one queue. An unclosed PGlite keeps
 * the process alive, so close() is always reached through `finally` in the callers.
 */
import { PGlite } from "@electric-sql/pglite";
import process from "node:process";
import { RuntimeError } from "../core/errors.ts";
import type { Db, Sql } from "./db.ts";

export interface EmbeddedDbOptions {
  /** Directory of the data files; undefined keeps the database in memory (tests). */
  dataDir?: string;
  /** A dump made by `dumpDataDir` to start from (per-test databases). */
  loadDataDir?: Blob | File;
}

const LOCK_FILE = "pg-solo-lite.lock";

export async function openEmbeddedDb(options: EmbeddedDbOptions = {}): Promise<Db> {
  let releaseLock: (() => Promise<void>) | undefined;
  if (options.dataDir) {
    await Deno.mkdir(options.dataDir, { recursive: true });
    releaseLock = await acquireDirLock(options.dataDir);
  }
  const pg = await PGlite.create({
    // PGlite owns a subdirectory; DATA_DIR itself holds the lock file beside it.
    dataDir: options.dataDir ? `${options.dataDir}/pg` : undefined,
    loadDataDir: options.loadDataDir,
  });
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

  return {
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
    // The data directory is locked for the whole life of the handle (see acquireDirLock).
    tryLockInstance: () => Promise.resolve(true),
    close: async () => {
      if (closed) return;
      closed = true;
      await tail;
      await pg.close();
      if (releaseLock) await releaseLock();
    },
  };
}

/**
 * Two processes opening one PGlite directory would corrupt it, so an embedded database is
 * exclusive to one process: a PID file, taken before PGlite opens and removed on close. A PID
 * file whose process is gone is stale and taken over.
 */
async function acquireDirLock(dataDir: string): Promise<() => Promise<void>> {
  const path = `${dataDir}/${LOCK_FILE}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await Deno.writeTextFile(path, String(Deno.pid), { createNew: true });
      return async () => {
        await Deno.remove(path).catch(() => {});
      };
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      const pid = Number((await Deno.readTextFile(path).catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== Deno.pid && isAlive(pid)) {
        throw new RuntimeError(
          `The embedded database in ${dataDir} is in use by process ${pid}; stop that process ` +
            `(pg-solo-lite serve?) first, or use a PostgreSQL server through DATABASE_URL`,
        );
      }
      await Deno.remove(path).catch(() => {});
    }
  }
  throw new RuntimeError(`Cannot lock the embedded database in ${dataDir}; remove ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // Only "no such process" proves the holder is gone; anything else (no permission to
    // signal, or to ask) is taken as alive, since a wrong guess here corrupts the database.
    return (error as { code?: string }).code !== "ESRCH";
  }
}
