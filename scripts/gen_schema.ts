/**
 * Writes db/schema.sql: the migrations applied to a throwaway in-memory embedded database, then
 * read back from its catalog (db/schema.ts).
 *
 *   deno task schema
 */
import { openEmbeddedDb } from "../db/embedded.ts";
import { migrate } from "../db/migrate.ts";
import { dumpSchema } from "../db/schema.ts";

export async function currentSchema(): Promise<string> {
  const db = await openEmbeddedDb();
  try {
    await migrate(db);
    return await dumpSchema(db);
  } finally {
    await db.close();
  }
}

if (import.meta.main) {
  const out = new URL("../db/schema.sql", import.meta.url);
  await Deno.writeTextFile(out, await currentSchema());
  console.log(`Wrote ${out.pathname}`);
}
