/**
 * The daily backup of `serve` (BACKUP_DIR, at BACKUP_AT UTC, keeping the newest BACKUP_KEEP).
 * It runs inside the service, so an embedded database is dumped between two units of work of
 * the one session (a consistent copy) without stopping anything. Success is logged and sent to
 * the operator at INFO, failure at WARN; `doctor` reports the age of the newest backup.
 */
import { errorMessage } from "../core/errors.ts";
import { redactText } from "../core/redact.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { scheduleCron } from "../core/scheduler.ts";
import type { Component, ServiceContext } from "../runtime/mod.ts";
import { pruneBackups, takeBackup } from "./backup.ts";

/** "03:00" → "0 3 * * *". */
export function dailySchedule(at: string): string {
  const [h, m] = at.split(":").map(Number);
  return `${m} ${h} * * *`;
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
      return Promise.resolve();
    },
  });
}

/** One scheduled backup; never throws (the next day tries again). */
export async function runBackup(ctx: ServiceContext, dir: string, keep: number): Promise<void> {
  const t0 = performance.now();
  try {
    const b = await takeBackup(ctx.db, dir, {
      now: ctx.clock.now(),
      url: ctx.config.databaseUrl,
      timeoutMs: ctx.config.backup.timeoutMs,
    });
    const pruned = await pruneBackups(dir, keep);
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
