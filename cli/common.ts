/** What every subcommand shares: flag parsing, tables, and opening the configured database. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { type Config, loadConfig, secretValues } from "../core/config.ts";
import { ConfigError, UsageError } from "../core/errors.ts";
import { type LogLevel, setupLogging } from "../core/log.ts";
import type { Db } from "../db/mod.ts";
import { openDb } from "../db/mod.ts";
import { migrate } from "../db/mod.ts";

export interface Io {
  env: Record<string, string | undefined>;
  out(line: string): void;
  err(line: string): void;
  /** True when standard error is a terminal (progress lines are shown). */
  isTerminal: boolean;
}

export interface Command {
  name: string;
  /** The full --help text. */
  help: string;
  run(args: string[], io: Io): Promise<void>;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses flags strictly: an unknown flag is a usage error that names the command's --help. */
export function parse<O extends Options>(
  command: string,
  args: string[],
  options: O,
  positionals: { min?: number; max?: number } = {},
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const msg = (error as Error).message.replace(/\. To specify a positional.*$/s, "");
    throw new UsageError(`${msg}; see: pg-solo-lite ${command} --help`);
  }
  const n = parsed.positionals.length;
  if (positionals.min !== undefined && n < positionals.min) {
    throw new UsageError(`Missing argument; see: pg-solo-lite ${command} --help`);
  }
  if (positionals.max !== undefined && n > positionals.max) {
    throw new UsageError(
      `Unexpected argument "${
        parsed.positionals[positionals.max]
      }"; see: pg-solo-lite ${command} --help`,
    );
  }
  return parsed;
}

/**
 * The directories this process writes (DATA_DIR when embedded, BACKUP_DIR when set) must be
 * allowed by Deno's --allow-write: otherwise the start ends here, with the fix, instead of
 * later with Deno's own error in the middle of opening the database.
 */
export function checkWritable(config: Config): void {
  const dirs: [string, string][] = [];
  if (!config.databaseUrl) dirs.push(["DATA_DIR", config.dataDir]);
  if (config.backup.dir) dirs.push(["BACKUP_DIR", config.backup.dir]);
  const problems = dirs
    .filter(([, dir]) =>
      Deno.permissions.querySync({ name: "write", path: dir }).state !== "granted"
    )
    .map(([name, dir]) =>
      `${name}: ${dir} is not writable under this run's Deno permissions; run with --allow-write=${dir} (deno run), use deno task start or the binary (they allow any directory), or set ${name} inside an allowed one`
    );
  if (problems.length > 0) {
    throw new ConfigError(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  ${p}`).join("\n"),
      problems,
    );
  }
}

/** Loads the configuration and sets up logging (to standard error). */
export function configure(io: Io, overrides: { logLevel?: LogLevel } = {}): Config {
  const config = loadConfig(io.env);
  checkWritable(config);
  setupLogging({
    level: overrides.logLevel ?? config.logLevel,
    secrets: secretValues(io.env),
    format: config.logFormat,
    isTerminal: io.isTerminal,
  });
  return config;
}

/** Opens the database, applies pending migrations, runs `fn`, and always closes. */
export async function withDb<T>(config: Config, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openDb(config);
  try {
    await migrate(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** A plain text table: one header row, columns padded to their widest cell. */
export function table(rows: Record<string, unknown>[], columns?: string[]): string {
  if (rows.length === 0) return "(none)";
  const cols = columns ?? Object.keys(rows[0]);
  const cell = (v: unknown) =>
    v === null || v === undefined ? "" : v instanceof Date ? v.toISOString() : String(v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
  return [line(cols), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join("\n");
}

/**
 * A --from/--to flag: YYYY-MM-DD (midnight UTC; with `endOfDay`, the next midnight, so a `--to`
 * day is whole) or an ISO-8601 time, as epoch milliseconds.
 */
export function parseDateFlag(name: string, v: string, endOfDay: boolean): number {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(v);
  const ms = Date.parse(dateOnly ? `${v}T00:00:00Z` : v);
  if (!Number.isFinite(ms)) {
    throw new UsageError(`--${name} "${v}" is not a date; use YYYY-MM-DD or an ISO-8601 time`);
  }
  return dateOnly && endOfDay ? ms + 86_400_000 : ms;
}

/**
 * A number flag: undefined when not given; refused with its range when it is empty, not a
 * finite number, or `ok` says no.
 */
export function numberFlag(
  flag: string,
  raw: string | undefined,
  ok: (n: number) => boolean,
  range: string,
): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n) || !ok(n)) {
    throw new UsageError(`--${flag} "${raw}" is out of range; give a number ${range}`);
  }
  return n;
}
