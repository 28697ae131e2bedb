import type { Config } from "../core/config.ts";
import type { Db } from "./db.ts";
import { localSocketPath } from "./local_wire.ts";

export interface OpenOptions {
  /**
   * Embedded only: this process is `serve`; it serves other processes' commands on a local
   * socket. Without it, a CLI finding a running serve's socket uses the database through it.
   */
  serveLocal?: boolean;
}

/** Opens the configured database: the server when DATABASE_URL is set, else PGlite in DATA_DIR. */
export async function openDb(
  config: Pick<Config, "databaseUrl" | "dbPoolSize" | "dataDir">,
  options: OpenOptions = {},
): Promise<Db> {
  if (config.databaseUrl) {
    const { openServerDb } = await import("./server.ts");
    return await openServerDb({ url: config.databaseUrl, poolSize: config.dbPoolSize });
  }
  if (!options.serveLocal) {
    // Only a live serve listens on the socket (it removes a stale one when it starts).
    const { connectLocalSocket } = await import("./local_client.ts");
    const remote = await connectLocalSocket(localSocketPath(config.dataDir));
    if (remote) return remote;
  }
  const { openEmbeddedDb } = await import("./embedded.ts");
  return await openEmbeddedDb({ dataDir: config.dataDir, serveLocal: options.serveLocal });
}

/** Opens PGlite in `dataDir` directly (never through a serve), optionally from a dump. */
export async function openEmbeddedAt(dataDir: string, loadDataDir?: Blob): Promise<Db> {
  const { openEmbeddedDb } = await import("./embedded.ts");
  return await openEmbeddedDb({ dataDir, loadDataDir });
}
