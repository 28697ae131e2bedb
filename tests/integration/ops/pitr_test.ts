/**
 * The point-in-time recovery drill on a throwaway cluster: base backup (deploy/base_backup.sh),
 * more writes with WAL archived by deploy/archive_wal.sh, then deploy/pitr_drill.sh recovers a
 * copy to a time between the writes; only the rows committed before that time exist.
 */
import assert from "node:assert/strict";

const BIN = "/usr/lib/postgresql/15/bin";
const DEPLOY = new URL("../../../deploy/", import.meta.url).pathname;
const USER = "postgres";

const missing = await (async () => {
  try {
    await Deno.stat(`${BIN}/initdb`);
    await Deno.stat(`${BIN}/pg_basebackup`);
    const id = await new Deno.Command("id", { args: ["-u", USER], stdout: "null", stderr: "null" })
      .output();
    if (!id.success) return `no "${USER}" user to run initdb as`;
    return undefined;
  } catch {
    return `PostgreSQL binaries not found in ${BIN}`;
  }
})();

/** Runs a shell command as the plain user (initdb and pg_ctl refuse root). */
async function sh(cmd: string): Promise<string> {
  const asRoot = Deno.uid() === 0;
  const out = await new Deno.Command(asRoot ? "su" : "bash", {
    args: asRoot ? [USER, "-s", "/bin/bash", "-c", cmd] : ["-c", cmd],
    env: { PATH: `${BIN}:/usr/bin:/bin`, PGUSER: USER },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`${cmd}\n${dec.decode(out.stderr)}${dec.decode(out.stdout)}`);
  return dec.decode(out.stdout).trim();
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test({
  name: "the PITR drill recovers a copy to a time between two writes" +
    (missing ? ` (skipped: ${missing})` : ""),
  ignore: missing !== undefined,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "pgsl-pitr-" });
    if (Deno.uid() === 0) {
      const uid = Number(await sh("id -u"));
      const gid = Number(await sh("id -g"));
      await Deno.chown(root, uid, gid);
    }
    const port = freePort();
    const port2 = freePort();
    const psql = (p: number, sql: string) =>
      sh(`psql -h 127.0.0.1 -p ${p} -d postgres -Atc "${sql}"`);
    try {
      await sh(`initdb -D ${root}/data -A trust -U ${USER} >/dev/null && mkdir ${root}/wal`);
      await sh(`cat >> ${root}/data/postgresql.conf <<'CONF'
port = ${port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '${root}'
wal_level = replica
archive_mode = on
archive_command = 'ALLOW_SAME_DISK=1 ${DEPLOY}archive_wal.sh %p %f ${root}/wal'
CONF`);
      await sh(`pg_ctl -D ${root}/data -l ${root}/data.log -w start >/dev/null`);
      await psql(port, "create table t (id int primary key); insert into t values (1)");
      await sh(
        `DATABASE_URL=postgres://${USER}@127.0.0.1:${port}/postgres ${DEPLOY}base_backup.sh ${root}/base`,
      );
      await psql(port, "insert into t values (2)");
      await new Promise((r) => setTimeout(r, 1_100));
      const target = await psql(port, "select now()::text");
      await new Promise((r) => setTimeout(r, 1_100));
      await psql(port, "insert into t values (3)");
      const before = Number(await psql(port, "select archived_count from pg_stat_archiver"));
      await psql(port, "select pg_switch_wal()");
      for (let i = 0; i < 100; i++) {
        if (Number(await psql(port, "select archived_count from pg_stat_archiver")) > before) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const base = (await sh(`ls -d ${root}/base/base-*`)).split("\n")[0];
      await sh(`${DEPLOY}pitr_drill.sh ${base} ${root}/wal '${target}' ${root}/recovered ${port2}`);
      assert.equal(await psql(port2, "select string_agg(id::text, ',' order by id) from t"), "1,2");
      assert.equal(await psql(port, "select count(*) from t"), "3", "the original is untouched");
    } finally {
      for (const d of ["recovered", "data"]) {
        await sh(`pg_ctl -D ${root}/${d} -m immediate stop >/dev/null 2>&1 || true`);
      }
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
