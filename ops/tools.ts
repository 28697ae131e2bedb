/**
 * The PostgreSQL client programs a server backup needs (pg_dump, pg_restore). They must be at
 * least as new as the server: an older pg_dump refuses a newer server, so it is checked first
 * with a message that names the package to install.
 */
import { RuntimeError } from "../core/errors.ts";
import type { Db } from "../db/mod.ts";

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
 * The URL without its password, and the environment that carries it: a password on the
 * command line would be visible to every user of the machine (ps).
 */
export function toolConnection(url: string): { url: string; env: Record<string, string> } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = "";
  return { url: u.toString(), env: password ? { PGPASSWORD: password } : {} };
}

/** Runs a tool; a failure carries its last lines of standard error (never the password). */
export async function runTool(tool: Tool, args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(tool, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("; ");
    throw new RuntimeError(`${tool} failed (exit ${out.code}): ${err}`);
  }
}
