/** The public face of ops/: backups, restores and the daily backup of `serve`. */

export { backupName, listBackups, pruneBackups, takeBackup } from "./backup.ts";
export { backupKind, restoreBackup } from "./restore.ts";
export { backupComponent, dailySchedule, runBackup } from "./component.ts";
export { backupCheck } from "./status.ts";
export { notifierRoleCheck } from "./roles.ts";
