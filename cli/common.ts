/** What every subcommand shares: flag parsing, tables, and opening the configured database. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { type Config, loadConfig, secretValues } from "../core/config.ts";
import { UsageError } from "../core/errors.ts";
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

/** Loads the configuration and sets up logging (to standard error). */
export function configure(io: Io, overrides: { logLevel?: LogLevel } = {}): Config {
  const config = loadConfig(io.env);
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
