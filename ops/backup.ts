/**
 * Backups: `pg_dump` in custom format for a server, PGlite's dumpDataDir for the embedded
 * database (through the running serve's socket when it runs, so the copy is consistent).
 * A backup is written to a `.partial` name and renamed, so a file with the final name is
 * always complete; names carry the UTC time, so sorting them sorts by age. Every backup is
 * bounded (BACKUP_TIMEOUT_S): pg_dump is killed past it, and the wait for a running serve's
 * dump ends (the serve deletes the copy it was making for this process).
 */
import { isDeadlineError } from "../core/deadline.ts";
import { RuntimeError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Db } from "../db/mod.ts";
import { checkTool, runTool, serverMajor, toolConnection } from "./tools.ts";

const PREFIX = "pg-solo-lite-";
const NAME = /^pg-solo-lite-(\d{8}T\d{6}Z)\.(dump|tar\.gz)$/;

export interface Backup {
  path: string;
  bytes: number;
}

export function backupName(kind: Db["kind"], now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${PREFIX}${stamp}.${kind === "server" ? "dump" : "tar.gz"}`;
}

export interface BackupOptions {
  /** The time in the file's name. */
  now: Date;
  /** DATABASE_URL: required for a server (pg_dump connects). */
  url?: string;
  /** The longest a backup may take (BACKUP_TIMEOUT_S); default limits.backupTimeoutS. */
  timeoutMs?: number;
}

/** Takes one backup of `db` into `dir`. */
export async function takeBackup(db: Db, dir: string, options: BackupOptions): Promise<Backup> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = `${dir}/${backupName(db.kind, options.now)}`;
  // Its own: two backups of one second (serve's daily one and a timer's) must not write into
  // one file; the second rename replaces a whole backup with another whole one.
  const partial = `${path}.${crypto.randomUUID()}.partial`;
  const timeoutMs = options.timeoutMs ?? limits.backupTimeoutS * 1000;
  try {
    if (db.kind === "server") {
      if (!options.url) throw new RuntimeError("A server backup needs DATABASE_URL");
      await checkTool("pg_dump", await serverMajor(db));
      const conn = toolConnection(options.url);
      await runTool(
        "pg_dump",
        ["--format=custom", "--no-owner", `--file=${partial}`, conn.url],
        conn.env,
        { timeoutMs },
      );
    } else {
      if (!db.dumpDataDir) throw new RuntimeError("This database cannot dump its data directory");
      const blob = await db.dumpDataDir({ timeoutMs });
      await Deno.writeFile(partial, new Uint8Array(await blob.arrayBuffer()), { mode: 0o600 });
    }
    await Deno.chmod(partial, 0o600);
    await Deno.rename(partial, path);
  } catch (error) {
    await Deno.remove(partial).catch(() => {});
    if (isDeadlineError(error)) {
      throw new RuntimeError(
        `The backup did not finish within ${
          timeoutMs / 1000
        } s (BACKUP_TIMEOUT_S); nothing was written: raise BACKUP_TIMEOUT_S for a database this large`,
        { cause: error },
      );
    }
    throw error;
  }
  return { path, bytes: (await Deno.stat(path)).size };
}

/** Deletes the `.partial` files of backups killed over a day ago. */
async function removeStalePartials(dir: string): Promise<void> {
  const before = Date.now() - 86_400_000;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.startsWith(PREFIX) || !entry.name.endsWith(".partial")) {
        continue;
      }
      const path = `${dir}/${entry.name}`;
      const { mtime } = await Deno.stat(path);
      if (mtime && mtime.getTime() < before) await Deno.remove(path).catch(() => {});
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** The backups in `dir`, newest first. */
export async function listBackups(dir: string): Promise<{ name: string; takenAt: Date }[]> {
  const found: { name: string; takenAt: Date }[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const m = entry.isFile ? entry.name.match(NAME) : null;
      if (!m) continue;
      const s = m[1];
      const iso = `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${
        s.slice(11, 13)
      }:${s.slice(13, 15)}Z`;
      found.push({ name: entry.name, takenAt: new Date(iso) });
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found.sort((a, b) => b.name.localeCompare(a.name));
}

/**
 * Deletes all but the newest `keep` backups (by the time in their names); returns the names
 * deleted. `taken`, the backup just written, is never deleted and counts among the kept: after
 * the clock was set back, its name sorts older than the others, and pruning by name alone would
 * delete the one good recent backup at once. A `.partial` file a killed backup left behind
 * (over a day old: no backup takes that long) is deleted too, and not counted.
 */
export async function pruneBackups(dir: string, keep: number, taken?: string): Promise<string[]> {
  await removeStalePartials(dir);
  const all = (await listBackups(dir)).map((b) => b.name);
  const justTaken = taken?.split("/").pop();
  const others = all.filter((n) => n !== justTaken);
  const kept = justTaken && all.includes(justTaken) ? Math.max(0, keep - 1) : keep;
  const old = others.slice(kept);
  for (const name of old) await Deno.remove(`${dir}/${name}`);
  return old;
}
