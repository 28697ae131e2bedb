import assert from "node:assert/strict";
import { emptyTestDb, serverUrl } from "../../helpers/db.ts";
import { loadMigrations, migrate } from "../../../db/migrate.ts";
import { openServerDb } from "../../../db/server.ts";
import { ConfigError } from "../../../core/errors.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;

Deno.test({
  ...opts,
  name: "migrate applies every file once and records its checksum",
  fn: async () => {
    await using t = await emptyTestDb();
    const first = await migrate(t.db);
    const shipped = await loadMigrations();
    assert.deepEqual(first.applied, shipped.map((m) => m.name));
    const again = await migrate(t.db);
    assert.deepEqual(again.applied, []);
    const rows = await t.db.query<{ checksum: string }>(
      "select checksum from schema_migrations order by version",
    );
    assert.deepEqual(rows.map((r) => r.checksum), shipped.map((m) => m.checksum));
  },
});

Deno.test({
  ...opts,
  name: "an applied migration whose file changed stops with a clear error",
  fn: async () => {
    await using t = await emptyTestDb();
    const shipped = await loadMigrations();
    await migrate(t.db, { migrations: shipped });
    const tampered = shipped.map((m, i) => i === 0 ? { ...m, checksum: "0".repeat(64) } : m);
    await assert.rejects(
      () => migrate(t.db, { migrations: tampered }),
      (e) =>
        e instanceof ConfigError &&
        /0001_core\.sql was changed after it was applied/.test(e.message),
    );
  },
});

Deno.test({
  ...opts,
  name: "a database a newer version migrated is refused, with nothing changed",
  fn: async () => {
    await using t = await emptyTestDb();
    const shipped = await loadMigrations();
    // What this version ships, less the last: the database is "newer" than that code.
    await migrate(t.db, { migrations: shipped });
    const older = shipped.slice(0, -1);
    const last = shipped[shipped.length - 1];
    await assert.rejects(
      () => migrate(t.db, { migrations: older }),
      (e) =>
        e instanceof ConfigError &&
        e.message.includes(
          `migration(s) ${last.name} that this version of pg-solo-lite does not ship`,
        ),
    );
    const [r] = await t.db.query<{ n: number }>("select count(*)::int as n from schema_migrations");
    assert.equal(r.n, shipped.length);
  },
});

Deno.test({
  ...opts,
  name: "a failing migration leaves nothing behind and is not recorded",
  fn: async () => {
    await using t = await emptyTestDb();
    const broken = [{
      version: 1,
      name: "0001_broken.sql",
      sql: "create table half_done (id int); select * from no_such_table;",
      checksum: "x",
    }];
    await assert.rejects(() => migrate(t.db, { migrations: broken }));
    const [r] = await t.db.query<{ t: string | null; n: number }>(
      "select to_regclass('half_done')::text as t, (select count(*)::int from schema_migrations) as n",
    );
    assert.deepEqual(r, { t: null, n: 0 });
  },
});

Deno.test({
  ...opts,
  name: "concurrent migrate runs on one server database apply each file exactly once" +
    (serverUrl() ? "" : " (needs a PostgreSQL server: set TEST_DATABASE_URL)"),
  ignore: !serverUrl(),
  fn: async () => {
    await using t = await emptyTestDb();
    const dbs = await Promise.all(
      Array.from({ length: 4 }, () => openServerDb({ url: t.url!, poolSize: 2 })),
    );
    try {
      const results = await Promise.all(dbs.map((db) => migrate(db)));
      const applied = results.flatMap((r) => r.applied);
      const shipped = await loadMigrations();
      assert.deepEqual(applied.sort(), shipped.map((m) => m.name).sort());
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  },
});
