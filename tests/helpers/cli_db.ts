/**
 * A test database for commands run in-process: the commands open it themselves (by URL, or the
 * embedded data dir), and the test reads or seeds it between commands through `withDb`.
 */
import type { Db } from "../../db/db.ts";
import { openEmbeddedDb } from "../../db/embedded.ts";
import { testDb } from "./db.ts";
import { type CliRun, cliRunner, dbEnvOf } from "./io.ts";

export interface CliDb extends AsyncDisposable {
  /** Runs `pg-solo-lite <argv>` against the database, with `env` added to the environment. */
  cli(argv: string[], env?: Record<string, string>): Promise<CliRun>;
  /** Runs `fn` with the database open (the embedded one is opened and closed around it). */
  withDb<T>(fn: (db: Db) => Promise<T>): Promise<T>;
}

export async function cliDb(env: Record<string, string> = {}): Promise<CliDb> {
  const t = await testDb({ onDisk: true });
  if (t.kind === "embedded") await t.db.close();
  const base = { LOG_LEVEL: "error", ...dbEnvOf(t), ...env };
  return {
    cli: (argv, more = {}) => cliRunner({ ...base, ...more })(argv),
    async withDb(fn) {
      if (t.kind === "server") return await fn(t.db);
      const db = await openEmbeddedDb({ dataDir: t.dataDir });
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    },
    [Symbol.asyncDispose]: () => t.close(),
  };
}
