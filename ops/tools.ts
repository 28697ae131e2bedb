/**
 * The PostgreSQL client programs a server backup needs (pg_dump, pg_restore). They must be at
 * least as new as the server: an older pg_dump refuses a newer server, so it is checked first
 * with a message that names the package to install.
 */
import { DeadlineError } from "../core/deadline.ts";
import { RuntimeError } from "../core/errors.ts";
import { type Db, splitUrlSecrets } from "../db/mod.ts";

export type Tool = "pg_dump" | "pg_restore";

/** The major version of the server behind `db`. */
export async function serverMajor(db: Db): Promise<number> {
  const [row] = await db.query<{ v: string }>("select current_setting('server_version_num') as v");
  return Math.floor(Number(row.v) / 10_000);
}

/** Checks `tool` is on PATH and not older than the server; returns its major version. */
export async function checkTool(tool: Tool, server: number): Promise<number> {
  const pkg = `postgresql-client-${server} (Debian/Ubuntu) or postgresql${server} (RHEL/Fedora)`;
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(tool, { args: ["--version"], stdout: "piped", stderr: "piped" })
      .output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new RuntimeError(`${tool} was not found on PATH: install ${pkg}`);
    }
    if (error instanceof Deno.errors.NotCapable) {
      throw new RuntimeError(
        `${tool} may not be run: allow it with --allow-run=pg_dump,pg_restore (deno task start and the binary do)`,
      );
    }
    throw error;
  }
  const m = new TextDecoder().decode(out.stdout).match(/(\d+)(?:\.\d+)?/);
  const major = m ? Number(m[1]) : 0;
  if (major < server) {
    throw new RuntimeError(
      `${tool} is version ${major || "unknown"} but the server is ${server}: install ${pkg}`,
    );
  }
  return major;
}

/**
 * The URL without its password (from `user:password@` or `?password=`), and the environment
 * that carries it: a command line is visible to every user of the machine (ps), a process's
 * environment only to its own user. A URL with another secret parameter (`sslpassword`) is
 * refused: libpq has no environment variable for it.
 */
export function toolConnection(url: string): { url: string; env: Record<string, string> } {
  const split = splitUrlSecrets(url);
  if (split.otherSecrets.length > 0) {
    throw new RuntimeError(
      `DATABASE_URL has ${
        split.otherSecrets.join(", ")
      }, which pg_dump and pg_restore could only be given on their command line (visible to every user in ps): take it out of the URL (put it in a service file, PGSERVICEFILE)`,
    );
  }
  return { url: split.url, env: split.password ? { PGPASSWORD: split.password } : {} };
}

/**
 * Runs a tool and returns its standard output; a failure carries its last lines of standard
 * error (never the password). With `timeoutMs` a tool still running then is killed, and the
 * call fails with a DeadlineError.
 */
export async function runTool(
  tool: Tool,
  args: string[],
  env: Record<string, string>,
  options: { timeoutMs?: number } = {},
): Promise<string> {
  const child = new Deno.Command(tool, { args, env, stdout: "piped", stderr: "piped" }).spawn();
  let timedOut = false;
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.timeoutMs);
  const out = await child.output().finally(() => clearTimeout(timer));
  if (timedOut) throw new DeadlineError(options.timeoutMs!, tool);
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("; ");
    throw new RuntimeError(`${tool} failed (exit ${out.code}): ${err}`);
  }
  return new TextDecoder().decode(out.stdout);
}
