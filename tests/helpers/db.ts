/**
 * Throwaway databases for tests: one per test file (or per test), copied from a migrated
 * template. Against the real PostgreSQL when TEST_DATABASE_URL is set (CREATE DATABASE …
 * TEMPLATE), against PGlite otherwise (a dumped data dir, cached on disk per schema version).
 */
import postgres from "postgres";
import { PGlite } from "@electric-sql/pglite";
import type { Db } from "../../db/db.ts";
import { openServerDb } from "../../db/server.ts";
import { openEmbeddedDb } from "../../db/embedded.ts";
import { migrate, schemaFingerprint } from "../../db/migrate.ts";

export interface TestDb extends AsyncDisposable {
  db: Db;
  /** A connection URL for another process (server mode only). */
  url?: string;
  /** The data dir for another process (embedded mode with `onDisk`). */
  dataDir?: string;
  kind: "server" | "embedded";
  close(): Promise<void>;
}

export const serverUrl = (): string | undefined => Deno.env.get("TEST_DATABASE_URL") || undefined;

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

const randomName = (prefix: string) =>
  `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;

let serverTemplate: Promise<string> | undefined;

async function ensureServerTemplate(adminUrl: string): Promise<string> {
  const name = `pgsl_tpl_${await schemaFingerprint()}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    // Test files run in parallel: one builds the template, the others wait for it.
    await admin`select pg_advisory_lock(7067)`;
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (!exists) {
      const building = `${name}_build`;
      await admin.unsafe(`drop database if exists "${building}"`);
      await admin.unsafe(`create database "${building}"`);
      const db = await openServerDb({ url: withDatabase(adminUrl, building), poolSize: 1 });
      try {
        await migrate(db);
      } finally {
        await db.close();
      }
      await admin.unsafe(`alter database "${building}" rename to "${name}"`);
      await admin.unsafe(`comment on database "${name}" is 'built ${new Date().toISOString()}'`);
      // Templates of other schema versions are dropped once they are a day old: a run of
      // another checkout (another branch, on the same server) may still be copying one.
      const stale = await admin`select d.datname, shobj_description(d.oid, 'pg_database') as note
        from pg_database d
        where left(d.datname, 9) = 'pgsl_tpl_' and d.datname <> ${name}
          and right(d.datname, 6) <> '_build'`;
      for (const { datname, note } of stale) {
        const built = Date.parse(String(note ?? "").replace(/^built /, ""));
        if (Number.isFinite(built) && Date.now() - built < 86_400_000) continue;
        await admin.unsafe(`drop database if exists "${datname}"`).catch(() => {});
      }
    }
    await admin`select pg_advisory_unlock(7067)`;
  } finally {
    await admin.end();
  }
  return name;
}

async function createServerDb(adminUrl: string): Promise<TestDb> {
  serverTemplate ??= ensureServerTemplate(adminUrl);
  let template = await serverTemplate;
  const name = randomName("pgsl_t");
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    for (let attempt = 0;; attempt++) {
      try {
        await admin.unsafe(`create database "${name}" template "${template}"`);
        break;
      } catch (error) {
        const code = (error as { code?: string }).code;
        // 3D000: the template was dropped by an older harness elsewhere: build it again.
        if (code === "3D000" && attempt < 3) {
          serverTemplate = ensureServerTemplate(adminUrl);
          template = await serverTemplate;
          continue;
        }
        // 55006: the template is briefly in use by a concurrent copy; try again.
        if (code !== "55006" || attempt > 50) throw error;
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
      }
    }
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  const db = await openServerDb({ url, poolSize: 5 });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await db.close();
    const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
    try {
      await a.unsafe(`drop database if exists "${name}" with (force)`);
    } finally {
      await a.end();
    }
  };
  return { db, url, kind: "server", close, [Symbol.asyncDispose]: close };
}

let embeddedTemplate: Promise<Blob> | undefined;

async function ensureEmbeddedTemplate(): Promise<Blob> {
  const cacheDir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/pg-solo-lite-test-templates`;
  const file = `${cacheDir}/${await schemaFingerprint()}.tar.gz`;
  try {
    return new Blob([await Deno.readFile(file)]);
  } catch {
    // Not cached yet: build it (initdb takes a few seconds, once per schema version).
  }
  const pg = await PGlite.create();
  const db = await openEmbeddedDbFrom(pg);
  await migrate(db);
  const dump = await pg.dumpDataDir("gzip");
  await pg.close();
  await Deno.mkdir(cacheDir, { recursive: true });
  const tmp = `${file}.${crypto.randomUUID()}`;
  await Deno.writeFile(tmp, new Uint8Array(await dump.arrayBuffer()));
  await Deno.rename(tmp, file);
  return dump;
}

/** Adapts an already open PGlite for `migrate` (the template build only). */
function openEmbeddedDbFrom(pg: PGlite): Db {
  return {
    kind: "embedded",
    query: async (text, params = []) => (await pg.query(text, params as unknown[])).rows as never,
    exec: async (text) => void (await pg.exec(text)),
    transaction: (fn) =>
      pg.transaction((tx) =>
        fn({
          query: async (text, params = []) =>
            (await tx.query(text, params as unknown[])).rows as never,
          exec: async (text) => void (await tx.exec(text)),
        })
      ),
    listen: () => Promise.resolve(() => Promise.resolve()),
    tryLockInstance: () => Promise.resolve(true),
    close: () => pg.close(),
  };
}

async function createEmbeddedDb(onDisk: boolean): Promise<TestDb> {
  embeddedTemplate ??= ensureEmbeddedTemplate();
  const dump = await embeddedTemplate;
  const dataDir = onDisk ? await Deno.makeTempDir({ prefix: "pgsl-test-" }) : undefined;
  const db = await openEmbeddedDb({ dataDir, loadDataDir: dump });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await db.close();
    if (dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  return { db, dataDir, kind: "embedded", close, [Symbol.asyncDispose]: close };
}

/**
 * A fresh, migrated database of its own. `onDisk` (embedded only) keeps it in a temp dir so
 * that another process can open it after `db.close()`.
 */
export function testDb(options: { onDisk?: boolean } = {}): Promise<TestDb> {
  const url = serverUrl();
  return url ? createServerDb(url) : createEmbeddedDb(options.onDisk ?? false);
}

/** An empty database (not migrated), for migration tests. */
export async function emptyTestDb(): Promise<TestDb> {
  const adminUrl = serverUrl();
  if (!adminUrl) {
    const db = await openEmbeddedDb();
    return {
      db,
      kind: "embedded",
      close: () => db.close(),
      [Symbol.asyncDispose]: () => db.close(),
    };
  }
  const name = randomName("pgsl_e");
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`).finally(() => admin.end());
  const url = withDatabase(adminUrl, name);
  const db = await openServerDb({ url, poolSize: 5 });
  const close = async () => {
    await db.close();
    const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await a.unsafe(`drop database if exists "${name}" with (force)`).finally(() => a.end());
  };
  return { db, url, kind: "server", close, [Symbol.asyncDispose]: close };
}

/** Rows of trading rules for one instrument so orders can be inserted in tests. */
export async function seedInstrument(
  db: Db,
  options: {
    exchangeId?: string;
    symbol?: string;
    tickSize?: string;
    stepSize?: string;
    minQty?: string;
    minNotional?: string;
  } = {},
): Promise<void> {
  const exchangeId = options.exchangeId ?? "binance";
  const symbol = options.symbol ?? "BTC/USDT";
  const [base, quote] = symbol.split("/");
  await db.query(
    "insert into exchanges (id, mode) values ($1, 'paper') on conflict (id) do nothing",
    [exchangeId],
  );
  await db.query(
    "insert into instruments (symbol, base, quote) values ($1, $2, $3) on conflict (symbol) do nothing",
    [symbol, base, quote],
  );
  await db.query(
    `insert into exchange_instruments (exchange_id, instrument_id, market_id, trading_rules)
     select $1, id, $3, $4::jsonb from instruments where symbol = $2
     on conflict (exchange_id, instrument_id) do update set trading_rules = excluded.trading_rules`,
    [
      exchangeId,
      symbol,
      `${base}${quote}`,
      JSON.stringify({
        tick_size: options.tickSize ?? "0.01",
        step_size: options.stepSize ?? "0.00001",
        min_qty: options.minQty ?? "0.00001",
        min_notional: options.minNotional ?? "5",
      }),
    ],
  );
}

/**
 * Runs `fn` on the test database while no command holds it: the server one is shared; an
 * embedded one (closed so that a command could open it) is opened for `fn` and closed again.
 */
export async function withTestData<T>(t: TestDb, fn: (db: Db) => Promise<T>): Promise<T> {
  if (t.kind === "server") return await fn(t.db);
  const db = await openEmbeddedDb({ dataDir: t.dataDir });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
