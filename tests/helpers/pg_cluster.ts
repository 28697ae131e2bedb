/**
 * A throwaway PostgreSQL cluster of a test's own (initdb/pg_ctl from /usr/lib/postgresql/15/bin,
 * as a plain user through su when run as root, on a free loopback port), to restart and stop
 * without touching the shared server.
 */
const PG_BIN = "/usr/lib/postgresql/15/bin";
const PLAIN_USER = "pgsltest";

async function run(cmd: string, asUser: boolean): Promise<void> {
  const args = asUser ? ["su", PLAIN_USER, "-s", "/bin/sh", "-c", cmd] : ["sh", "-c", cmd];
  const out = await new Deno.Command(args[0], {
    args: args.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr).slice(0, 500)}`);
  }
}

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * A free port below Linux's ephemeral range (32768–60999): a port the kernel hands out for
 * port 0 can be taken meanwhile as the local port of any outgoing connection of the parallel
 * tests (to the shared server, say), and the cluster's start or restart then fails to bind.
 */
function clusterPort(): number {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // taken: try another
    }
  }
  return freePort();
}

export interface PgCluster {
  url: string;
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

/** Whether a cluster can be made here (the binaries are installed). */
export const canMakeCluster = (): boolean => {
  try {
    return Deno.statSync(`${PG_BIN}/initdb`).isFile;
  } catch {
    return false;
  }
};

export async function pgCluster(): Promise<PgCluster> {
  const root = Deno.uid() === 0;
  if (root) {
    const exists = await new Deno.Command("id", {
      args: ["-u", PLAIN_USER],
      stdout: "null",
      stderr: "null",
    })
      .output();
    if (!exists.success) {
      await run(`useradd --system --no-create-home --shell /usr/sbin/nologin ${PLAIN_USER}`, false)
        .catch(() => {}); // a parallel test file may have made it first
    }
  }
  const dir = await Deno.makeTempDir({ prefix: "pgsl-test-" });
  if (root) await run(`chown ${PLAIN_USER} ${dir}`, false);
  const ctl = (args: string) =>
    run(`${PG_BIN}/pg_ctl -D ${dir}/data -l ${dir}/log -w ${args}`, root);
  await run(`${PG_BIN}/initdb -D ${dir}/data -A trust -U postgres --no-sync >/dev/null`, root);
  let port = clusterPort();
  for (let attempt = 1;; attempt++) {
    try {
      await ctl(`-o "-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off" start`);
      break;
    } catch (error) {
      // Another process took the port between the check and the start: another port.
      if (attempt >= 3) throw error;
      port = clusterPort();
    }
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: () => ctl("-m fast restart"),
    async destroy() {
      await ctl("-m immediate stop").catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
