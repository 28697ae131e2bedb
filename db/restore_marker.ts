/**
 * DATA_DIR/restore.unfinished: written by an embedded restore before it touches DATA_DIR/pg and
 * removed only once the restored database is migrated and closed. While it is there, DATA_DIR/pg
 * may be a half-written database (a restore killed midway), which PGlite can only fail to open
 * ("PGlite failed to initialize properly") or, when it is missing, replace with a new empty
 * one; so every opener of DATA_DIR refuses instead and says where the previous data is.
 */
import { RuntimeError } from "../core/errors.ts";

export const RESTORE_MARKER = "restore.unfinished";

export interface RestoreMarker {
  /** The backup file being restored (absolute path). */
  backup: string;
  /** When the restore started (ISO 8601). */
  startedAt: string;
  /** Where DATA_DIR/pg was moved before the backup was loaded; absent when DATA_DIR was empty. */
  movedAside?: string;
}

/** Refusal to open DATA_DIR while an interrupted restore's marker is there. */
export class UnfinishedRestoreError extends RuntimeError {
  override name = "UnfinishedRestoreError";
}

export function restoreMarkerPath(dataDir: string): string {
  return `${dataDir}/${RESTORE_MARKER}`;
}

/** The marker in `dataDir`: undefined when there is none, null when it cannot be read. */
export async function readRestoreMarker(
  dataDir: string,
): Promise<RestoreMarker | null | undefined> {
  let text;
  try {
    text = await Deno.readTextFile(restoreMarkerPath(dataDir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    const v = JSON.parse(text);
    if (typeof v.backup !== "string" || typeof v.startedAt !== "string") return null;
    return {
      backup: v.backup,
      startedAt: v.startedAt,
      movedAside: typeof v.movedAside === "string" ? v.movedAside : undefined,
    };
  } catch {
    return null;
  }
}

/**
 * Writes the marker whole or not at all (a temporary file synced to disk, then renamed over it),
 * so a kill while writing never leaves a marker that cannot be read.
 */
export async function writeRestoreMarker(dataDir: string, marker: RestoreMarker): Promise<void> {
  const path = restoreMarkerPath(dataDir);
  const tmp = `${path}.tmp`;
  const file = await Deno.open(tmp, { create: true, write: true, truncate: true });
  try {
    await file.write(new TextEncoder().encode(JSON.stringify(marker, null, 2) + "\n"));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
}

export async function removeRestoreMarker(dataDir: string): Promise<void> {
  await Deno.remove(restoreMarkerPath(dataDir));
}

/** Refuses with what happened and what to do when `dataDir` holds a restore's marker. */
export async function refuseUnfinishedRestore(dataDir: string): Promise<void> {
  const marker = await readRestoreMarker(dataDir);
  if (marker === undefined) return;
  throw new UnfinishedRestoreError(await unfinishedRestoreMessage(dataDir, marker));
}

async function unfinishedRestoreMessage(
  dataDir: string,
  marker: RestoreMarker | null,
): Promise<string> {
  const path = restoreMarkerPath(dataDir);
  const pg = `${dataDir}/pg`;
  if (marker === null) {
    return `Cannot open the embedded database in ${dataDir}: a restore was interrupted (${path} is there but cannot be read), so ${pg} may be incomplete; look for the previous data in ${dataDir}/pg.before-restore-*, then run pg-solo-lite restore FILE --force again, or delete ${path} once ${pg} holds the database you want`;
  }
  const head =
    `Cannot open the embedded database in ${dataDir}: a restore of ${marker.backup} was interrupted (started at ${marker.startedAt}; see ${path})`;
  const again = `run \`pg-solo-lite restore ${marker.backup}${
    marker.movedAside ? " --force" : ""
  }\` again`;
  if (!marker.movedAside) {
    return `${head}; ${pg} is incomplete and ${dataDir} held no database before it. To finish, ${again}; to start empty instead, delete ${pg} and ${path}`;
  }
  if (!(await exists(marker.movedAside))) {
    // Interrupted between writing the marker and moving the old data: it is still in place.
    return `${head} before the previous data was moved aside: it is still in ${pg}. To finish, ${again}; to keep the previous data, delete ${path}`;
  }
  return `${head}; ${pg} is incomplete and your previous data is in ${marker.movedAside}. To finish, ${again}; to undo, delete ${pg}, move ${marker.movedAside} back to ${pg} and delete ${path}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
