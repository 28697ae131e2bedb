/** An in-memory Io for calling commands (or main()) in-process. */
import type { Io } from "../../cli/common.ts";

export interface CapturedIo extends Io {
  stdout: string[];
  stderr: string[];
}

export function captureIo(env: Record<string, string | undefined> = {}): CapturedIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    env: { LOG_LEVEL: "error", ...env },
    out: (l) => stdout.push(l),
    err: (l) => stderr.push(l),
    isTerminal: false,
    stdout,
    stderr,
  };
}

/** The environment that points a command at a test database. */
export function dbEnvOf(t: { url?: string; dataDir?: string }): Record<string, string> {
  return t.url ? { DATABASE_URL: t.url } : { DATA_DIR: t.dataDir! };
}
