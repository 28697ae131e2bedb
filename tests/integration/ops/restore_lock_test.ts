/**
 * A restore takes the single-instance lock of `serve` and holds it to the end: it refuses while
 * a serve runs against the target (saying which process), leaving the target as it was, and a
 * serve started while a restore runs refuses to start. Backups are not refused while serve runs.
 */
import assert from "node:assert/strict";
import { serverUrl, testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { loadConfig } from "../../../core/config.ts";
import { migrate, openDb, openEmbeddedAt } from "../../../db/mod.ts";
import { openEmbeddedDb } from "../../../db/embedded.ts";
import { restoreBackup, takeBackup } from "../../../ops/mod.ts";
import { startService } from "../../../service/mod.ts";

const NOW = new Date("2026-12-01T03:00:00Z");
const REFUSED = new RegExp(
  `Cannot restore: serve is running against this database \\(pid ${Deno.pid}( on host [^)]+)?\\); stop it first`,
);

const chat = (db: { query: (t: string) => Promise<unknown[]> }, id: number) =>
  db.query(`select 1 from telegram_chats where chat_id = ${id}`).then((r) => r.length);

Deno.test({
  name: "a server restore is refused while serve holds the database, and holds the lock itself" +
    (serverUrl() ? "" : " (needs TEST_DATABASE_URL)"),
  ignore: !serverUrl(),
  ...serviceTest,
  fn: async () => {
    await using source = await testDb();
    await using target = await testDb();
    const dir = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    // An application_name of the operator's own does not hide who holds the lock.
    const config = loadConfig({
      DATABASE_URL: `${target.url}?application_name=ops`,
      HTTP_PORT: "0",
    });
    try {
      await source.db.query("insert into telegram_chats (chat_id, label) values (1, 'source')");
      const file = (await takeBackup(source.db, dir, { now: NOW, url: source.url })).path;
      await target.db.query("insert into telegram_chats (chat_id, label) values (2, 'live')");

      // What serve does at its start.
      const serve = await openDb(config, { command: "serve" });
      try {
        assert.equal(await serve.tryLockInstance(), true);
        await assert.rejects(restoreBackup(config, file, { now: NOW, force: true }), REFUSED);
        assert.equal(await chat(target.db, 2), 1, "the live database was not touched");
        // Backups while serving are a feature.
        const b = await takeBackup(target.db, dir, { now: new Date(), url: target.url });
        assert.ok(b.bytes > 0);
      } finally {
        await serve.close();
      }

      await restoreBackup(config, file, { now: NOW, force: true });
      assert.equal(await chat(target.db, 1), 1, "restored once serve was gone");
      assert.equal(await chat(target.db, 2), 0);
      const next = await openDb(config, { command: "serve" });
      try {
        assert.equal(await next.tryLockInstance(), true, "the restore let the lock go");
      } finally {
        await next.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "serve refuses to start while a restore holds the database, and says so" +
    (serverUrl() ? "" : " (needs TEST_DATABASE_URL)"),
  ignore: !serverUrl(),
  ...serviceTest,
  fn: async () => {
    await using target = await testDb();
    const config = loadConfig({ DATABASE_URL: target.url, HTTP_PORT: "0" });
    const restoring = await openDb(config, { command: "restore" });
    try {
      assert.equal(await restoring.tryLockInstance(), true);
      await assert.rejects(
        startService(config, { factories: [] }),
        new RegExp(`A restore is running on this database \\(pid ${Deno.pid}.*start serve once`),
      );
    } finally {
      await restoring.close();
    }
  },
});

Deno.test({
  name: "an embedded restore is refused while serve holds DATA_DIR, with or without --force",
  ...serviceTest,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    try {
      const source = await openEmbeddedAt(`${root}/source`);
      let file;
      try {
        await migrate(source);
        await source.query("insert into telegram_chats (chat_id, label) values (1, 'source')");
        file = (await takeBackup(source, `${root}/backups`, { now: NOW })).path;
      } finally {
        await source.close();
      }
      const config = loadConfig({ DATA_DIR: `${root}/target` });
      // What serve opens: DATA_DIR locked, commands served on its socket.
      const serve = await openEmbeddedDb({
        dataDir: `${root}/target`,
        serveLocal: true,
        command: "serve",
      });
      try {
        await migrate(serve);
        await serve.query("insert into telegram_chats (chat_id, label) values (2, 'live')");
        for (const force of [false, true]) {
          await assert.rejects(restoreBackup(config, file, { now: NOW, force }), REFUSED);
        }
        const entries = [...Deno.readDirSync(`${root}/target`)].map((e) => e.name);
        assert.ok(!entries.some((n) => n.includes("before-restore")), entries.join(", "));
        assert.equal(await chat(serve, 2), 1);
        // A backup through the running serve still works.
        const client = await openDb(config);
        try {
          await takeBackup(client, `${root}/backups`, { now: new Date() });
        } finally {
          await client.close();
        }
      } finally {
        await serve.close();
      }
      const r = await restoreBackup(config, file, { now: NOW, force: true });
      assert.ok(r.movedAside);
      const db = await openEmbeddedAt(`${root}/target`);
      try {
        assert.equal(await chat(db, 1), 1);
        assert.equal(await chat(db, 2), 0);
      } finally {
        await db.close();
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
