/** An in-memory Io for calling commands (or main()) in-process. */
import type { Io } from "../../cli/common.ts";
import { main } from "../../main.ts";

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

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs commands in-process through main() with `env`, capturing what they print. */
export function cliRunner(
  env: Record<string, string | undefined>,
): (argv: string[], isTerminal?: boolean) => Promise<CliRun> {
  return async (argv, isTerminal = false) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, {
      env,
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      isTerminal,
    });
    return { code, out: out.join("\n"), err: err.join("\n") };
  };
}
