import type { Config } from "../core/config.ts";
import type { Db } from "./db.ts";
import { localSocketPath } from "./local_wire.ts";

export interface OpenOptions {
  /**
   * Embedded only: this process is `serve`; it serves other processes' commands on a local
   * socket. Without it, a CLI finding a running serve's socket uses the database through it.
   */
  serveLocal?: boolean;
  /**
   * The pg-solo-lite command of this process ("serve", "restore"): recorded with the instance
   * lock, so that a process it refuses can say who holds the database.
   */
  command?: string;
}

/** Opens the configured database: the server when DATABASE_URL is set, else PGlite in DATA_DIR. */
export async function openDb(
  config: Pick<Config, "databaseUrl" | "dbPoolSize" | "dataDir">,
  options: OpenOptions = {},
): Promise<Db> {
  if (config.databaseUrl) {
    const { openServerDb } = await import("./server.ts");
    return await openServerDb({
      url: config.databaseUrl,
      poolSize: config.dbPoolSize,
      command: options.command,
    });
  }
  if (!options.serveLocal) {
    // Only a live serve listens on the socket (it removes a stale one when it starts).
    const { connectLocalSocket } = await import("./local_client.ts");
    const remote = await connectLocalSocket(localSocketPath(config.dataDir));
    if (remote) return remote;
  }
  const { openEmbeddedDb } = await import("./embedded.ts");
  return await openEmbeddedDb({
    dataDir: config.dataDir,
    serveLocal: options.serveLocal,
    command: options.command,
  });
}

export interface EmbeddedAtOptions {
  /** A dump to start from. */
  loadDataDir?: Blob;
  /** Recorded in the lock file (see OpenOptions.command). */
  command?: string;
  /** Runs with DATA_DIR locked, before PGlite opens it (see EmbeddedDbOptions.beforeOpen). */
  beforeOpen?: () => Promise<void>;
  /** This open is a restore (see EmbeddedDbOptions.restore). */
  restore?: boolean;
  /** Runs in close() before DATA_DIR is unlocked (see EmbeddedDbOptions.beforeUnlock). */
  beforeUnlock?: () => Promise<void>;
}

/** Opens PGlite in `dataDir` directly (never through a serve), optionally from a dump. */
export async function openEmbeddedAt(
  dataDir: string,
  options: EmbeddedAtOptions = {},
): Promise<Db> {
  const { openEmbeddedDb } = await import("./embedded.ts");
  return await openEmbeddedDb({ dataDir, ...options });
}

/**
 * Opens a dump in memory, touching no directory: to look inside a backup before a restore
 * replaces anything with it. Closed by the caller.
 */
export async function openEmbeddedCopy(dump: Blob): Promise<Db> {
  const { openEmbeddedDb } = await import("./embedded.ts");
  return await openEmbeddedDb({ loadDataDir: dump });
}
