/**
 * backup then restore round-trips a server database and an embedded one: the same rows and
 * the same ledger sums; a non-empty target is refused without --force.
 */
import assert from "node:assert/strict";
import { emptyTestDb, serverUrl, testDb } from "../../helpers/db.ts";
import { loadConfig } from "../../../core/config.ts";
import type { Db } from "../../../db/mod.ts";
import { migrate, openEmbeddedAt } from "../../../db/mod.ts";
import {
  backupKind,
  listBackups,
  pruneBackups,
  restoreBackup,
  takeBackup,
} from "../../../ops/mod.ts";

const NOW = new Date("2026-12-01T03:00:00Z");

async function seed(db: Db) {
  await db.query("insert into exchanges (id) values ('binance') on conflict do nothing");
  await db.query("insert into telegram_chats (chat_id, label) values (1, 'a'), (2, 'b')");
  for (let i = 0; i < 20; i++) {
    await db.query(
      "insert into transactions (exchange_id, asset, amount, kind) values ('binance', $1, $2, 'deposit')",
      [i % 2 ? "USDT" : "BTC", `${i}.125`],
    );
  }
  await db.query("select enqueue_notification('INFO', 'test', 'queued before the backup', 'k1')");
}

async function fingerprint(db: Db) {
  const counts = await db.query<{ t: string; n: number }>(
    `select 'transactions' as t, count(*)::int as n from transactions
     union all select 'chats', count(*)::int from telegram_chats
     union all select 'pending', count(*)::int from notification_outbox where status = 'PENDING'
     order by 1`,
  );
  const sums = await db.query(
    "select asset, sum(amount)::text as s from transactions group by 1 order by 1",
  );
  return { counts, sums };
}

Deno.test({
  name: "backup and restore round-trip a server database" +
    (serverUrl() ? "" : " (needs TEST_DATABASE_URL)"),
  ignore: !serverUrl(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using source = await testDb();
    await using target = await emptyTestDb();
    const dir = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    try {
      await seed(source.db);
      const b = await takeBackup(source.db, dir, { now: NOW, url: source.url });
      assert.equal(await backupKind(b.path), "server");
      const config = loadConfig({ DATABASE_URL: target.url });
      await restoreBackup(config, b.path, { now: NOW });
      assert.deepEqual(await fingerprint(target.db), await fingerprint(source.db));
      await assert.rejects(
        restoreBackup(config, b.path, { now: NOW }),
        /not empty .*--force/,
      );
      await restoreBackup(config, b.path, { now: NOW, force: true });
      assert.deepEqual(await fingerprint(target.db), await fingerprint(source.db));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "backup and restore round-trip an embedded database; old backups are pruned",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    try {
      const source = await openEmbeddedAt(`${root}/source`);
      let expected;
      let path;
      try {
        await migrate(source);
        await seed(source);
        expected = await fingerprint(source);
        path = (await takeBackup(source, `${root}/backups`, { now: NOW })).path;
      } finally {
        await source.close();
      }
      assert.equal(await backupKind(path), "embedded");
      const config = loadConfig({ DATA_DIR: `${root}/target` });
      await restoreBackup(config, path, { now: NOW });
      const check = async () => {
        const db = await openEmbeddedAt(`${root}/target`);
        try {
          assert.deepEqual(await fingerprint(db), expected);
        } finally {
          await db.close();
        }
      };
      await check();
      await assert.rejects(restoreBackup(config, path, { now: NOW }), /already holds .*--force/);
      const r = await restoreBackup(config, path, { now: NOW, force: true });
      assert.ok(r.movedAside, "the replaced data is kept");
      await Deno.stat(r.movedAside);
      await check();
      // A server dump is refused by an embedded target, and junk is not a backup.
      await Deno.writeTextFile(`${root}/junk`, "hello");
      await assert.rejects(
        restoreBackup(config, `${root}/junk`, { now: NOW }),
        /not a pg-solo-lite backup/,
      );

      for (let d = 2; d <= 5; d++) {
        await Deno.writeTextFile(`${root}/backups/pg-solo-lite-2026110${d}T030000Z.tar.gz`, "x");
      }
      assert.equal((await listBackups(`${root}/backups`)).length, 5);
      const pruned = await pruneBackups(`${root}/backups`, 2);
      assert.deepEqual(pruned, [
        "pg-solo-lite-20261104T030000Z.tar.gz",
        "pg-solo-lite-20261103T030000Z.tar.gz",
        "pg-solo-lite-20261102T030000Z.tar.gz",
      ]);
      const left = (await listBackups(`${root}/backups`)).map((b) => b.name);
      assert.deepEqual(left, [
        "pg-solo-lite-20261201T030000Z.tar.gz",
        "pg-solo-lite-20261105T030000Z.tar.gz",
      ]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "two backups of one second at once (serve's daily one and the timer's) both finish, " +
    "and the file they leave is whole",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    try {
      const db = await openEmbeddedAt(`${root}/source`);
      let expected;
      try {
        await migrate(db);
        await seed(db);
        expected = await fingerprint(db);
        const both = await Promise.allSettled([
          takeBackup(db, `${root}/backups`, { now: NOW }),
          takeBackup(db, `${root}/backups`, { now: NOW }),
        ]);
        assert.deepEqual(
          both.map((r) => r.status),
          ["fulfilled", "fulfilled"],
          both.map((r) => r.status === "rejected" ? String(r.reason) : "ok").join("; "),
        );
      } finally {
        await db.close();
      }
      const left = [...Deno.readDirSync(`${root}/backups`)].map((e) => e.name);
      assert.deepEqual(left, ["pg-solo-lite-20261201T030000Z.tar.gz"], "no .partial is left");
      const config = loadConfig({ DATA_DIR: `${root}/target` });
      await restoreBackup(config, `${root}/backups/${left[0]}`, { now: NOW });
      const restored = await openEmbeddedAt(`${root}/target`);
      try {
        assert.deepEqual(await fingerprint(restored), expected);
      } finally {
        await restored.close();
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
