import type { Config } from "../core/config.ts";
import type { Db } from "./db.ts";

/** Opens the configured database: the server when DATABASE_URL is set, else PGlite in DATA_DIR. */
export async function openDb(
  config: Pick<Config, "databaseUrl" | "dbPoolSize" | "dataDir">,
): Promise<Db> {
  if (config.databaseUrl) {
    const { openServerDb } = await import("./server.ts");
    return await openServerDb({ url: config.databaseUrl, poolSize: config.dbPoolSize });
  }
  const { openEmbeddedDb } = await import("./embedded.ts");
  return await openEmbeddedDb({ dataDir: config.dataDir });
}
