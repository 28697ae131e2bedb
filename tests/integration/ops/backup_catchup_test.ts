/**
 * The daily backup of `serve` after a downtime: a BACKUP_AT missed while serve was down is
 * taken when it starts, not a day later; a start after the day's backup takes none.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { fakeClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import type { ServiceContext } from "../../../runtime/mod.ts";
import { backupComponent, listBackups } from "../../../ops/mod.ts";
import { backupMissed, runBackup } from "../../../ops/component.ts";

/** Starts the backup part of serve at `now` over `dir`; returns its stop. */
async function startAt(t: Awaited<ReturnType<typeof testDb>>, dir: string, now: string) {
  const controller = new AbortController();
  const ctx = {
    config: {
      databaseUrl: t.url,
      backup: { dir, at: "03:00", keep: 14, timeoutMs: 60_000 },
    },
    db: t.db,
    clock: fakeClock(new Date(now)),
    log: logger("test"),
    signal: controller.signal,
  } as unknown as ServiceContext;
  const c = await backupComponent(ctx);
  await c.start?.();
  return () => controller.abort();
}

/** Waits (bounded) for the outbox to tell a backup's end; returns its kinds. */
async function backupNotes(t: Awaited<ReturnType<typeof testDb>>) {
  for (let i = 0; i < 150; i++) {
    const rows = await t.db.query<{ kind: string }>(
      "select kind from notification_outbox where kind like 'backup%' order by id",
    );
    if (rows.length > 0) return rows.map((r) => r.kind);
    await new Promise((r) => setTimeout(r, 100));
  }
  return [];
}

Deno.test({
  ...serviceTest,
  name: "a daily backup missed while serve was down is taken when serve starts",
  fn: async () => {
    await using t = await testDb({ onDisk: true });
    await t.db.query("insert into telegram_chats (chat_id, min_severity) values (42, 'INFO')");
    const dir = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    try {
      // The last backup serve took before it went down, three days before this start.
      await Deno.writeTextFile(`${dir}/pg-solo-lite-20261128T030000Z.tar.gz`, "x");
      const stop = await startAt(t, dir, "2026-12-01T10:00:00Z");
      try {
        assert.deepEqual(await backupNotes(t), ["backup_done"]);
      } finally {
        stop();
      }
      const names = (await listBackups(dir)).map((b) => b.name);
      assert.equal(names.length, 2);
      assert.match(names[0], /^pg-solo-lite-20261201T100000Z\./);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a start after the day's backup, or before any, leaves the backup to BACKUP_AT",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    try {
      assert.equal(await backupMissed(dir, "03:00", new Date("2026-12-01T10:00:00Z")), false);
      await Deno.writeTextFile(`${dir}/pg-solo-lite-20261130T030000Z.tar.gz`, "x");
      // Before the day's BACKUP_AT the last one due was yesterday's, and it is there.
      assert.equal(await backupMissed(dir, "03:00", new Date("2026-12-01T02:59:00Z")), false);
      assert.equal(await backupMissed(dir, "03:00", new Date("2026-12-01T03:00:00Z")), true);
      await Deno.writeTextFile(`${dir}/pg-solo-lite-20261201T030000Z.tar.gz`, "x");
      assert.equal(await backupMissed(dir, "03:00", new Date("2026-12-01T23:59:00Z")), false);
      assert.equal(await backupMissed(dir, "23:30", new Date("2026-12-01T23:59:00Z")), true);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...serviceTest,
  name: "a backup asked while one is under way (the catch-up meeting BACKUP_AT) is that one",
  fn: async () => {
    await using t = await testDb({ onDisk: true });
    const dir = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    try {
      const ctx = {
        config: { databaseUrl: t.url, backup: { dir, at: "03:00", keep: 14, timeoutMs: 60_000 } },
        db: t.db,
        clock: fakeClock(new Date("2026-12-01T03:00:00Z")),
        log: logger("test"),
      } as unknown as ServiceContext;
      const first = runBackup(ctx, dir, 14);
      const second = runBackup(ctx, dir, 14);
      assert.equal(first, second, "the second ask joins the first");
      await Promise.all([first, second]);
      assert.equal((await listBackups(dir)).length, 1);
      const notes = await t.db.query<{ kind: string }>(
        "select kind from notification_outbox where kind like 'backup%'",
      );
      assert.ok(notes.every((n) => n.kind === "backup_done"), JSON.stringify(notes));
      // Once it ended, the next ask is a backup of its own.
      const third = runBackup(ctx, dir, 14);
      assert.notEqual(third, first);
      await third;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
