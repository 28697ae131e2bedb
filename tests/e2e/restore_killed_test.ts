/**
 * A real embedded `restore` killed with SIGKILL while PGlite is writing the restored database:
 * DATA_DIR/pg is then half-written, which PGlite alone can only fail to open with "PGlite failed
 * to initialize properly". Every command refuses instead, naming the backup and where the
 * previous data is, and the same restore run again completes without losing the previous data.
 */
import assert from "node:assert/strict";
import { PGlite } from "@electric-sql/pglite";
import { runCli, spawnCli } from "../helpers/process.ts";
import { serviceTest } from "../helpers/fixtures.ts";
import { migrate, openEmbeddedAt } from "../../db/mod.ts";
import { takeBackup } from "../../ops/mod.ts";

const TOKEN = "e2e-webhook-token-0123456789abcdefghij";

async function seed(dataDir: string, label: string): Promise<void> {
  const db = await openEmbeddedAt(dataDir);
  try {
    await migrate(db);
    await db.query(
      `insert into telegram_chats (chat_id, label) values (${label.length}, '${label}')`,
    );
  } finally {
    await db.close();
  }
}

const entries = (dir: string) => {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
};

Deno.test({
  name: "an embedded restore killed midway: commands refuse with what to do, and it recovers",
  ...serviceTest,
  fn: async () => {
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "pgsl-kill-" }));
    let target = "";
    let env: Record<string, string> = {};
    try {
      await seed(`${root}/source`, "from-backup");
      const source = await openEmbeddedAt(`${root}/source`);
      let file;
      try {
        file = (await takeBackup(source, `${root}/backups`, { now: new Date() })).path;
      } finally {
        await source.close();
      }

      // Killed once PGlite has begun writing DATA_DIR/pg and before it has written it whole (a
      // complete data directory here has 22 entries; writing them takes a few hundred ms). A
      // restore that finished before the kill landed is tried again on a fresh directory, a few
      // times: the window depends on the machine's speed.
      let killedAt: string[] = [];
      let killed = false;
      for (let attempt = 1; attempt <= 5 && !killed; attempt++) {
        target = `${root}/target-${attempt}`;
        env = { DATA_DIR: target, PINE_WEBHOOK_TOKEN: TOKEN, HTTP_PORT: "0" };
        await seed(target, "previous-data");
        const child = spawnCli(["restore", file, "--force"], env);
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline) {
          const n = entries(`${target}/pg`).length;
          const aside = entries(target).some((e) => e.startsWith("pg.before-restore-"));
          if (aside && n >= 1 && n < 20) {
            child.kill("SIGKILL");
            killedAt = entries(`${target}/pg`);
            break;
          }
          await new Promise((r) => setTimeout(r, 1));
        }
        killed = (await child.status).signal === "SIGKILL";
      }
      assert.ok(killed, "killed midway, not finished first, in one of 5 attempts");
      const previous = entries(target).find((n) => n.startsWith("pg.before-restore-"));
      assert.ok(previous, entries(target).join(", "));

      // What the program saw before the marker: PGlite opening the half-written directory.
      await assert.rejects(
        PGlite.create({ dataDir: `${target}/pg` }),
        /PGlite failed to initialize properly/,
        `pg held ${killedAt.join(", ")}`,
      );

      const refusal = new RegExp(
        `a restore of ${file} was interrupted \\(started at [0-9T:.Z-]+; see ${target}/restore\\.unfinished\\); ${target}/pg is incomplete and your previous data is in ${target}/${previous}\\. To finish, run \`pg-solo-lite restore ${file} --force\` again; to undo, delete ${target}/pg, move ${target}/${previous} back to ${target}/pg and delete ${target}/restore\\.unfinished`,
      );
      for (const args of [["serve"], ["migrate"], ["chats", "list"]]) {
        const r = await runCli(args, env);
        assert.equal(r.code, 1, `${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, refusal, `${args.join(" ")}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /failed to initialize/);
      }
      const doctor = await runCli(["doctor"], env);
      assert.notEqual(doctor.code, 0);
      assert.match(doctor.stdout + doctor.stderr, refusal);

      const again = await runCli(["restore", file, "--force"], env);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.match(
        again.stdout,
        new RegExp(`The previous data was moved to ${target}/${previous}`),
      );
      assert.match(again.stdout, /incomplete database was moved to .*pg\.interrupted-restore-/);
      assert.ok(!entries(target).includes("restore.unfinished"));
      const list = await runCli(["chats", "list"], env);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /from-backup/);
      assert.doesNotMatch(list.stdout, /previous-data/);

      // The previous data is whole where the refusal said.
      await Deno.mkdir(`${root}/previous`);
      await Deno.rename(`${target}/${previous}`, `${root}/previous/pg`);
      const old = await openEmbeddedAt(`${root}/previous`);
      try {
        const rows = await old.query<{ label: string }>(
          "select label from telegram_chats",
        );
        assert.deepEqual(rows.map((r) => r.label), ["previous-data"]);
      } finally {
        await old.close();
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
