/**
 * The daily backup of `serve` (BACKUP_DIR, at BACKUP_AT UTC, keeping the newest BACKUP_KEEP).
 * It runs inside the service, so an embedded database is dumped between two units of work of
 * the one session (a consistent copy) without stopping anything. A backup missed while serve
 * was down is taken at start. Success is logged and sent to the operator at INFO, failure at
 * WARN; `doctor` reports the age of the newest backup.
 */
import { errorMessage } from "../core/errors.ts";
import { redactText } from "../core/redact.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { scheduleCron } from "../core/scheduler.ts";
import type { Component, ServiceContext } from "../runtime/mod.ts";
import { listBackups, pruneBackups, takeBackup } from "./backup.ts";

/** "03:00" → "0 3 * * *". */
export function dailySchedule(at: string): string {
  const [h, m] = at.split(":").map(Number);
  return `${m} ${h} * * *`;
}

/** The latest time at or before `now` the daily backup was due (`at`, "HH:MM" UTC). */
export function lastDue(at: string, now: Date): Date {
  const [h, m] = at.split(":").map(Number);
  const due = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), h, m));
  if (due.getTime() > now.getTime()) due.setUTCDate(due.getUTCDate() - 1);
  return due;
}

/**
 * Whether the daily backup was missed while serve was down: the newest one in `dir` is older
 * than the last time one was due. A directory without any yet is left to the schedule.
 */
export async function backupMissed(dir: string, at: string, now: Date): Promise<boolean> {
  const [newest] = await listBackups(dir);
  return newest !== undefined && newest.takenAt.getTime() < lastDue(at, now).getTime();
}

export function backupComponent(ctx: ServiceContext): Promise<Component> {
  const { dir, at, keep } = ctx.config.backup;
  return Promise.resolve({
    name: "backup",
    describe: () =>
      dir ? `daily at ${at} UTC into ${dir}, keeping ${keep}` : "off (BACKUP_DIR unset)",
    start: () => {
      if (!dir) return Promise.resolve();
      scheduleCron(
        [{
          name: "daily-backup",
          schedule: dailySchedule(at),
          run: () => runBackup(ctx, dir, keep),
        }],
        ctx.signal,
        ctx.log,
      );
      // A day missed while serve was down (a crash, a holiday) is taken now, in the
      // background, instead of at the next BACKUP_AT: the newest backup could otherwise be
      // days old until then, and `doctor` failing for it.
      void backupMissed(dir, at, ctx.clock.now()).then(
        (missed) => missed ? runBackup(ctx, dir, keep) : undefined,
        (error) =>
          ctx.log.warn("Backups in {dir} could not be listed: {error}", {
            dir,
            error: redactText(errorMessage(error)),
          }),
      );
      return Promise.resolve();
    },
  });
}

/** The backup of each directory under way in this process. */
const running = new Map<string, Promise<void>>();

/**
 * One scheduled backup; never throws (the next day tries again). A backup of `dir` asked while
 * one is under way (the catch-up at start meeting `BACKUP_AT`) is that one, not a second.
 */
export function runBackup(ctx: ServiceContext, dir: string, keep: number): Promise<void> {
  let p = running.get(dir);
  if (!p) {
    p = backupOnce(ctx, dir, keep).finally(() => running.delete(dir));
    running.set(dir, p);
  }
  return p;
}

async function backupOnce(ctx: ServiceContext, dir: string, keep: number): Promise<void> {
  const t0 = performance.now();
  try {
    const b = await takeBackup(ctx.db, dir, {
      now: ctx.clock.now(),
      url: ctx.config.databaseUrl,
      timeoutMs: ctx.config.backup.timeoutMs,
    });
    const pruned = await pruneBackups(dir, keep, b.path);
    ctx.log.info("Backup written to {path} ({bytes} bytes, {ms} ms); {pruned} old one(s) removed", {
      path: b.path,
      bytes: b.bytes,
      ms: Math.round(performance.now() - t0),
      pruned: pruned.length,
    });
    await enqueueNotification(ctx.db, {
      severity: "INFO",
      kind: NotificationKind.backupDone,
      text: `Daily backup written: ${b.path} (${b.bytes} bytes); ${keep} kept`,
      dedupeKey: `backup:done:${ctx.clock.now().toISOString().slice(0, 10)}`,
    }).catch(() => {});
  } catch (error) {
    const reason = redactText(errorMessage(error));
    ctx.log.warn("The daily backup failed: {error}", { error: reason });
    await enqueueNotification(ctx.db, {
      severity: "WARN",
      kind: NotificationKind.backupFailed,
      text: `The daily backup failed: ${reason}. The next one runs tomorrow; run ` +
        "pg-solo-lite backup to take one now",
      dedupeKey: `backup:failed:${ctx.clock.now().toISOString().slice(0, 10)}`,
    }).catch(() => {});
  }
}
