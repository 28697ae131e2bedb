/**
 * A backup that cannot be restored is refused before the target is touched: a truncated or
 * damaged .tar.gz, an archive that is not a pg-solo-lite database, and a backup written by a
 * newer pg-solo-lite (migrations this version does not know: its code would run on a schema it
 * was not written for). The target's database stays where it was, with no restore marker.
 */
import assert from "node:assert/strict";
import { emptyTestDb, serverUrl, testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { loadConfig } from "../../../core/config.ts";
import { migrate, openDb, openEmbeddedAt } from "../../../db/mod.ts";
import { restoreBackup, takeBackup } from "../../../ops/mod.ts";

const NOW = new Date("2026-12-01T03:00:00Z");

const chats = async (db: { query: <T>(t: string) => Promise<T[]> }) =>
  (await db.query<{ chat_id: string }>("select chat_id::text from telegram_chats order by 1"))
    .map((r) => r.chat_id);

const FUTURE = "insert into schema_migrations (version, name, checksum) " +
  "values (9999, '9999_from_the_future.sql', 'f')";

async function embeddedBackup(root: string, name: string, extra?: string): Promise<string> {
  const db = await openEmbeddedAt(`${root}/${name}`);
  try {
    await migrate(db);
    await db.query("insert into telegram_chats (chat_id, label) values (1, 'backup')");
    if (extra) await db.query(extra);
    return (await takeBackup(db, `${root}/${name}-backups`, { now: NOW })).path;
  } finally {
    await db.close();
  }
}

Deno.test({
  name: "an embedded restore refuses a damaged, foreign or newer backup and moves nothing",
  ...serviceTest,
  fn: async () => {
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "pgsl-rc-" }));
    try {
      const good = await embeddedBackup(root, "source");
      const newer = await embeddedBackup(root, "newer", FUTURE);
      const bytes = await Deno.readFile(good);
      const truncated = `${root}/truncated.tar.gz`;
      await Deno.writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.9)));
      const foreign = `${root}/foreign.tar.gz`;
      const tar = new Deno.Command("tar", {
        args: ["czf", foreign, "-C", root, "source-backups"],
      });
      assert.ok((await tar.output()).success);

      const config = loadConfig({ DATA_DIR: `${root}/target` });
      const target = await openEmbeddedAt(config.dataDir);
      try {
        await migrate(target);
        await target.query("insert into telegram_chats (chat_id, label) values (2, 'live')");
      } finally {
        await target.close();
      }
      const cases: [string, RegExp][] = [
        [truncated, /truncated\.tar\.gz is damaged .*nothing was changed/],
        [foreign, /foreign\.tar\.gz is not a pg-solo-lite database .*nothing was changed/],
        [newer, /newer pg-solo-lite.*9999_from_the_future\.sql.*nothing was changed/],
      ];
      for (const [file, refusal] of cases) {
        await assert.rejects(restoreBackup(config, file, { now: NOW, force: true }), refusal);
        const left = [...Deno.readDirSync(config.dataDir)].map((e) => e.name).sort();
        assert.deepEqual(left, ["pg", "pg-solo-lite.lock"], `${file}: DATA_DIR untouched`);
        const db = await openDb(config);
        try {
          assert.deepEqual(await chats(db), ["2"], `${file}: the live data is in place`);
        } finally {
          await db.close();
        }
      }
      const r = await restoreBackup(config, good, { now: NOW, force: true });
      assert.ok(r.movedAside);
      const db = await openDb(config);
      try {
        assert.deepEqual(await chats(db), ["1"]);
      } finally {
        await db.close();
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "a server restore refuses a backup of a newer pg-solo-lite or of another database" +
    (serverUrl() ? "" : " (needs TEST_DATABASE_URL)"),
  ignore: !serverUrl(),
  ...serviceTest,
  fn: async () => {
    await using newer = await testDb();
    await using other = await emptyTestDb();
    await using target = await testDb();
    const dir = await Deno.makeTempDir({ prefix: "pgsl-rc-" });
    try {
      await newer.db.query(FUTURE);
      await other.db.exec("create table notes (id int primary key, body text)");
      await target.db.query("insert into telegram_chats (chat_id, label) values (2, 'live')");
      const fromNewer = (await takeBackup(newer.db, `${dir}/n`, { now: NOW, url: newer.url }))
        .path;
      const fromOther = (await takeBackup(other.db, `${dir}/o`, { now: NOW, url: other.url }))
        .path;
      const config = loadConfig({ DATABASE_URL: target.url });
      await assert.rejects(
        restoreBackup(config, fromNewer, { now: NOW, force: true }),
        /newer pg-solo-lite.*9999_from_the_future\.sql.*nothing was changed/,
      );
      await assert.rejects(
        restoreBackup(config, fromOther, { now: NOW, force: true }),
        /is not a pg-solo-lite database .*nothing was changed/,
      );
      assert.deepEqual(await chats(target.db), ["2"], "the target is as it was");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
