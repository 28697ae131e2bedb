/**
 * An embedded restore that stops after moving the old data aside (here: DATA_DIR as a crash
 * while loading the backup leaves it) leaves DATA_DIR/restore.unfinished:
 * every opener refuses, naming the backup and where the previous data is, instead of PGlite's
 * "failed to initialize properly" or a new empty database; the restore run again completes,
 * keeps the previous data where it was and never deletes anything.
 */
import assert from "node:assert/strict";
import { serviceTest } from "../../helpers/fixtures.ts";
import { loadConfig } from "../../../core/config.ts";
import { migrate, openDb, openEmbeddedAt } from "../../../db/mod.ts";
import { restoreBackup, takeBackup } from "../../../ops/mod.ts";

const NOW = new Date("2026-12-01T03:00:00Z");
const LATER = new Date("2026-12-01T03:05:00Z");

/** DATA_DIR/restore.unfinished as the operator reads it (docs/operations.md), if there. */
const marker = (dataDir: string) =>
  Deno.readTextFile(`${dataDir}/restore.unfinished`).then(JSON.parse, () => undefined);

const chats = async (db: { query: <T>(t: string) => Promise<T[]> }) =>
  (await db.query<{ chat_id: string }>("select chat_id::text from telegram_chats order by 1"))
    .map((r) => r.chat_id);

/** A DATA_DIR at `root/name` whose database holds one chat. */
async function seed(root: string, name: string, chatId: number): Promise<void> {
  const db = await openEmbeddedAt(`${root}/${name}`);
  try {
    await migrate(db);
    await db.query(`insert into telegram_chats (chat_id, label) values (${chatId}, '${name}')`);
  } finally {
    await db.close();
  }
}

/** The chats of a database directory moved aside, opened from a copy of its own. */
async function chatsIn(root: string, pgDir: string): Promise<string[]> {
  const dir = await Deno.makeTempDir({ dir: root });
  await Deno.rename(pgDir, `${dir}/pg`);
  try {
    const db = await openEmbeddedAt(dir);
    try {
      return await chats(db);
    } finally {
      await db.close();
    }
  } finally {
    await Deno.rename(`${dir}/pg`, pgDir);
  }
}

async function backupOf(root: string, chatId: number): Promise<string> {
  await seed(root, "source", chatId);
  const db = await openEmbeddedAt(`${root}/source`);
  try {
    return (await takeBackup(db, `${root}/backups`, { now: NOW })).path;
  } finally {
    await db.close();
  }
}

Deno.test({
  name: "an embedded restore stopped after moving the old data aside leaves DATA_DIR refusing " +
    "with where the data is, and a new restore over it completes",
  ...serviceTest,
  fn: async () => {
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "pgsl-rs-" }));
    try {
      const file = await backupOf(root, 1);
      await seed(root, "target", 2);
      // What a restore killed while loading the backup leaves (a damaged backup is refused
      // before anything moves, restore_check_test.ts): the marker, the previous data moved
      // aside, and a half-written DATA_DIR/pg.
      const broken = `${root}/backups/broken.tar.gz`;
      const config = loadConfig({ DATA_DIR: `${root}/target` });
      const previous = `${root}/target/pg.before-restore-20261201T030000000Z`;
      await Deno.writeTextFile(
        `${config.dataDir}/restore.unfinished`,
        JSON.stringify({ backup: broken, startedAt: NOW.toISOString(), movedAside: previous }),
      );
      await Deno.rename(`${config.dataDir}/pg`, previous);
      await Deno.mkdir(`${config.dataDir}/pg/base`, { recursive: true });
      await Deno.writeTextFile(`${config.dataDir}/pg/PG_VERSION`, "1");
      assert.deepEqual(await marker(config.dataDir), {
        backup: broken,
        startedAt: NOW.toISOString(),
        movedAside: previous,
      });

      // Every opener (serve, migrate, doctor and the CLI go through openDb) refuses, clearly.
      const refused = await openDb(config).then(() => undefined, (e: Error) => e);
      assert.equal(refused?.name, "UnfinishedRestoreError", String(refused));
      assert.equal(
        refused.message,
        `Cannot open the embedded database in ${root}/target: a restore of ${broken} was interrupted (started at ${NOW.toISOString()}; see ${root}/target/restore.unfinished); ${root}/target/pg is incomplete and your previous data is in ${previous}. To finish, run \`pg-solo-lite restore ${broken} --force\` again; to undo, delete ${root}/target/pg, move ${previous} back to ${root}/target/pg and delete ${root}/target/restore.unfinished`,
      );
      await assert.rejects(openDb(config, { serveLocal: true, command: "serve" }), refused);

      // Over the marker, as over live data, the restore needs --force; it moves nothing then.
      await assert.rejects(
        restoreBackup(config, file, { now: LATER }),
        new RegExp(
          `holds an interrupted restore of .*broken.tar.gz; the previous data is in ${previous}; pass --force`,
        ),
      );
      const r = await restoreBackup(config, file, { now: LATER, force: true });
      assert.equal(r.movedAside, previous, "the previous data stays where the marker said");
      assert.equal(await marker(config.dataDir), undefined, "the marker is gone");
      const db = await openDb(config);
      try {
        assert.deepEqual(await chats(db), ["1"], "the backup's data");
      } finally {
        await db.close();
      }
      assert.deepEqual(await chatsIn(root, previous), ["2"], "the previous data is intact");
      const left = [...Deno.readDirSync(`${root}/target`)].map((e) => e.name).sort();
      assert.deepEqual(
        left.filter((n) => n.startsWith("pg")),
        ["pg", "pg-solo-lite.lock", "pg.before-restore-20261201T030000000Z"].concat(
          r.incompleteAside ? ["pg.interrupted-restore-20261201T030500000Z"] : [],
        ).sort(),
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "a restore stopped between writing its marker and moving the old data: the data is " +
    "still in DATA_DIR/pg, the refusal says so, and the restore run again moves it aside",
  ...serviceTest,
  fn: async () => {
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "pgsl-rs-" }));
    try {
      const file = await backupOf(root, 1);
      await seed(root, "target", 2);
      const config = loadConfig({ DATA_DIR: `${root}/target` });
      const previous = `${root}/target/pg.before-restore-20261201T030000000Z`;
      // Exactly what the restore has written at that point.
      await Deno.writeTextFile(
        `${config.dataDir}/restore.unfinished`,
        JSON.stringify({ backup: file, startedAt: NOW.toISOString(), movedAside: previous }),
      );
      await assert.rejects(
        openEmbeddedAt(config.dataDir),
        new RegExp(
          `interrupted \\(started at ${NOW.toISOString()}; see .*\\) before the previous data was moved aside: it is still in ${root}/target/pg\\. To finish, run \`pg-solo-lite restore ${file} --force\` again; to keep the previous data, delete ${root}/target/restore\\.unfinished$`,
        ),
      );
      await assert.rejects(restoreBackup(config, file, { now: LATER }), /already holds a database/);
      const r = await restoreBackup(config, file, { now: LATER, force: true });
      assert.equal(r.movedAside, previous);
      assert.equal(r.incompleteAside, undefined, "DATA_DIR/pg was the previous data");
      assert.deepEqual(await chatsIn(root, previous), ["2"]);
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
  name:
    "a marker that cannot be read still refuses every open, and a restore over it needs --force",
  ...serviceTest,
  fn: async () => {
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "pgsl-rs-" }));
    try {
      const file = await backupOf(root, 1);
      await seed(root, "target", 2);
      const config = loadConfig({ DATA_DIR: `${root}/target` });
      await Deno.writeTextFile(`${config.dataDir}/restore.unfinished`, "{ not json");
      await assert.rejects(
        openDb(config),
        new RegExp(
          `a restore was interrupted \\(${root}/target/restore\\.unfinished is there but cannot be read\\)`,
        ),
      );
      await assert.rejects(restoreBackup(config, file, { now: LATER }), /cannot be read.*--force/);
      const r = await restoreBackup(config, file, { now: LATER, force: true });
      assert.equal(r.movedAside, undefined);
      assert.equal(r.incompleteAside, `${root}/target/pg.interrupted-restore-20261201T030500000Z`);
      assert.deepEqual(await chatsIn(root, r.incompleteAside), ["2"], "kept, not deleted");
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
