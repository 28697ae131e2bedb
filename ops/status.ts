import type { Config } from "../core/config.ts";
import { listBackups } from "./backup.ts";

/** A newest backup older than this (with BACKUP_DIR set) makes `doctor` fail. */
const STALE_MS = 2 * 24 * 3_600_000;

/** The doctor line about backups: how old the newest one in BACKUP_DIR is. */
export async function backupCheck(
  config: Config,
  now: Date,
): Promise<{ name: string; ok: boolean; detail: string }> {
  const dir = config.backup.dir;
  if (!dir) {
    return {
      name: "backup",
      ok: true,
      detail: "no daily backup (BACKUP_DIR unset); take one with: pg-solo-lite backup --out DIR",
    };
  }
  const [newest] = await listBackups(dir);
  if (!newest) {
    return {
      name: "backup",
      ok: true,
      detail: `none yet in ${dir} (daily at ${config.backup.at} UTC)`,
    };
  }
  const ageMs = now.getTime() - newest.takenAt.getTime();
  const hours = Math.max(0, Math.round(ageMs / 360_000) / 10);
  return {
    name: "backup",
    ok: ageMs <= STALE_MS,
    detail: `newest ${newest.name} is ${hours} h old${
      ageMs > STALE_MS ? " (older than 2 days: check the serve log for the failed backup)" : ""
    }`,
  };
}
