/**
 * A server backup restores on a machine whose cluster lacks the roles its grants name (a new
 * server, before db/roles.sql ran there): the grants are left out of the restore, which would
 * otherwise abort as a whole on the first one. Where db/roles.sql's roles exist, their rights
 * are applied again after the restore. Needs a PostgreSQL server (TEST_DATABASE_URL): pg_dump
 * and pg_restore work on a server database only.
 */
import assert from "node:assert/strict";
import { emptyTestDb, serverUrl, testDb } from "../../helpers/db.ts";
import { loadConfig } from "../../../core/config.ts";
import { restoreBackup, takeBackup } from "../../../ops/mod.ts";

const opts = { ignore: !serverUrl(), sanitizeResources: false, sanitizeOps: false };

Deno.test({
  ...opts,
  name: "a backup granting to a role this cluster lacks restores, without that grant",
  fn: async () => {
    await using source = await testDb();
    await using target = await emptyTestDb();
    const role = `pgsl_gone_${crypto.randomUUID().slice(0, 8)}`;
    const dir = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    try {
      await source.db.query(`create role ${role}`);
      await source.db.query(`grant select on transactions to ${role}`);
      const b = await takeBackup(source.db, dir, { now: new Date(), url: source.url });
      // The machine restored on has no such role.
      await source.db.query(`revoke select on transactions from ${role}`);
      await source.db.query(`drop role ${role}`);
      await restoreBackup(loadConfig({ DATABASE_URL: target.url }), b.path, { now: new Date() });
      const [{ n }] = await target.db.query<{ n: number }>(
        "select count(*)::int as n from pg_tables where schemaname = 'public' and tablename = 'transactions'",
      );
      assert.equal(n, 1);
    } finally {
      await source.db.query(`drop role if exists ${role}`).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...opts,
  name: "where db/roles.sql's roles exist, their rights are applied again after a restore",
  fn: async () => {
    await using source = await testDb();
    await using target = await emptyTestDb();
    const roles = await Deno.readTextFile(new URL("../../../db/roles.sql", import.meta.url));
    await source.db.exec(roles); // creates pgsl_app and pgsl_notifier if this cluster lacks them
    const dir = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    try {
      const b = await takeBackup(source.db, dir, { now: new Date(), url: source.url });
      const r = await restoreBackup(loadConfig({ DATABASE_URL: target.url }), b.path, {
        now: new Date(),
      });
      assert.equal(r.rolesApplied, true);
      const [p] = await target.db.query<{ insert: boolean; update: boolean; outbox: boolean }>(
        `select has_table_privilege('pgsl_app', 'transactions', 'INSERT') as insert,
                has_table_privilege('pgsl_app', 'transactions', 'UPDATE') as update,
                has_table_privilege('pgsl_notifier', 'notification_outbox', 'UPDATE') as outbox`,
      );
      assert.deepEqual(p, { insert: true, update: false, outbox: true });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
