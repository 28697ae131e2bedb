/**
 * Forward-only migrations: `db/migrations/NNNN_name.sql`, each applied once, in its own
 * transaction, under an advisory lock, and recorded with a SHA-256 checksum. An applied file
 * whose text changed is a fatal error: the schema of the money must never drift silently.
 */
import { ConfigError } from "../core/errors.ts";
import { sha256Hex } from "../core/hash.ts";
import { type Db, MIGRATION_LOCK_KEY } from "./db.ts";

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrateResult {
  applied: string[];
  current: number;
}

const MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);

/** The migration files shipped with the program, in order. */
export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const out: Migration[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(entry.name);
    if (!entry.isFile || !m) continue;
    const sql = await Deno.readTextFile(new URL(entry.name, dir));
    out.push({ version: Number(m[1]), name: entry.name, sql, checksum: sha256Hex(sql) });
  }
  out.sort((a, b) => a.version - b.version);
  for (let i = 1; i < out.length; i++) {
    if (out[i].version === out[i - 1].version) {
      throw new ConfigError(
        `Two migrations share version ${out[i].version}: ${out[i - 1].name}, ${out[i].name}`,
      );
    }
  }
  return out;
}

/** A checksum over every migration: names the schema a template database was built from. */
export async function schemaFingerprint(migrations?: Migration[]): Promise<string> {
  const all = migrations ?? await loadMigrations();
  return sha256Hex(all.map((m) => `${m.name}:${m.checksum}`).join("\n")).slice(0, 16);
}

export async function migrate(
  db: Db,
  options: { migrations?: Migration[]; onApply?: (name: string) => void } = {},
): Promise<MigrateResult> {
  const migrations = options.migrations ?? await loadMigrations();
  await db.exec(`
    create table if not exists schema_migrations (
      version int primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`).catch(async (error) => {
    // Two first runs racing on an empty database: the loser sees the table the winner made.
    const [row] = await db.query<{ ok: boolean }>(
      "select to_regclass('schema_migrations') is not null as ok",
    );
    if (!row?.ok) throw error;
  });
  // A database a newer pg-solo-lite has migrated (an older binary started after an upgrade):
  // this code would run on a schema it does not know.
  const known = new Set(migrations.map((m) => m.version));
  const newer = (await db.query<{ version: number; name: string }>(
    "select version, name from schema_migrations order by version",
  )).filter((r) => !known.has(Number(r.version)));
  if (newer.length > 0) {
    throw new ConfigError(
      `The database has migration(s) ${
        newer.map((r) => r.name).join(", ")
      } that this version of pg-solo-lite does not ship: a newer version has run on it, and this ` +
        "one would run on a schema it does not know. Run that version (or a newer one) again, or " +
        "restore a backup taken before it (pg-solo-lite restore); nothing was changed",
    );
  }
  const applied: string[] = [];
  for (const m of migrations) {
    const done = await db.transaction(async (tx) => {
      await tx.query("select pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
      const [row] = await tx.query<{ checksum: string; name: string }>(
        "select checksum, name from schema_migrations where version = $1",
        [m.version],
      );
      if (row) {
        if (row.checksum !== m.checksum) {
          throw new ConfigError(
            `Migration ${m.name} was changed after it was applied (checksum ${
              row.checksum.slice(0, 12)
            } in the database, ${
              m.checksum.slice(0, 12)
            } on disk); restore the original file and add a new migration instead`,
          );
        }
        return false;
      }
      await tx.exec(m.sql);
      await tx.query(
        "insert into schema_migrations (version, name, checksum) values ($1, $2, $3)",
        [m.version, m.name, m.checksum],
      );
      return true;
    });
    if (done) {
      applied.push(m.name);
      options.onApply?.(m.name);
    }
  }
  const [cur] = await db.query<{ v: number | null }>(
    "select max(version)::int as v from schema_migrations",
  );
  return { applied, current: cur?.v ?? 0 };
}
