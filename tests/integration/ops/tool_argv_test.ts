/**
 * No secret on a command line: every PostgreSQL client program that `backup`, `restore` and the
 * deploy/ scripts start is a recording stand-in first on PATH, which writes down its arguments
 * and PGPASSWORD. The password, given both as user:password@ and as ?password= (which wins, as
 * in libpq), must be in PGPASSWORD and in no argument. The CLI's stand-ins then run the real
 * program, so the backup and the restore really happen; the scripts' only pretend.
 */
import assert from "node:assert/strict";
import { emptyTestDb, serverUrl, testDb } from "../../helpers/db.ts";
import { runCli } from "../../helpers/process.ts";
import { INSTANCE_LOCK_KEY } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const TOOLS = ["pg_dump", "pg_restore", "psql", "pg_basebackup"];
const DEPLOY = new URL("../../../deploy/", import.meta.url).pathname;
/** The deno.json tasks' permission to run the tools. */
const ALLOW_RUN = ["--allow-run=pg_dump,pg_restore"];
const USER_SECRET = "userinfo-S3cret";
const QUERY_SECRET = "query-S3cret&+x";

/** Where the real `tool` is (searched on PATH before the stand-ins are put first). */
function realTool(tool: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${tool}`).isFile) return `${dir}/${tool}`;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

const missing = ["pg_dump", "pg_restore", "psql"].filter((t) => !realTool(t));

// FAKE_LOG: where to record; FAKE_REAL: run the real program after recording; FAKE_SLEEP:
// become a sleep instead (a dump that takes long); FAKE_LOCK_SQL: pg_restore first records the
// query's answer (whether the instance lock is held while it runs).
const STAND_IN = `#!/usr/bin/env bash
set -euo pipefail
tool="$(basename "$0")"
n="$tool-$(date +%s%N)-$$"
printf '%s\\0' "$@" > "$FAKE_LOG/$n.argv"
printf '%s' "\${PGPASSWORD-}" > "$FAKE_LOG/$n.pgpassword"
if [ "\${1-}" != --version ] && [ -n "\${FAKE_SLEEP-}" ]; then exec sleep "$FAKE_SLEEP"; fi
if [ -n "\${FAKE_REAL-}" ]; then
  if [ "$tool" = pg_restore ] && [ -n "\${FAKE_LOCK_SQL-}" ]; then
    for a in "$@"; do
      case "$a" in --dbname=*) "$FAKE_REAL/psql" "\${a#--dbname=}" -Atc "$FAKE_LOCK_SQL" > "$FAKE_LOG/lock";; esac
    done
  fi
  exec "$FAKE_REAL/$tool" "$@"
fi
for a in "$@"; do
  case "$a" in
    --version) echo "$tool (PostgreSQL) 99.0";;
    --file=*) : > "\${a#--file=}";;
    --pgdata=*) mkdir -p "\${a#--pgdata=}";;
  esac
done
`;

interface Recorded {
  tool: string;
  argv: string[];
  pgpassword: string;
}

async function standIns(): Promise<{ bin: string; log: string; calls(): Promise<Recorded[]> }> {
  const bin = await Deno.makeTempDir({ prefix: "pgsl-bin-" });
  const log = await Deno.makeTempDir({ prefix: "pgsl-argv-" });
  for (const tool of TOOLS) {
    await Deno.writeTextFile(`${bin}/${tool}`, STAND_IN, { mode: 0o755 });
  }
  const calls = async () => {
    const out: Recorded[] = [];
    for await (const e of Deno.readDir(log)) {
      if (!e.name.endsWith(".argv")) continue;
      const base = e.name.slice(0, -".argv".length);
      const argv = (await Deno.readTextFile(`${log}/${e.name}`)).split("\0").slice(0, -1);
      const pgpassword = await Deno.readTextFile(`${log}/${base}.pgpassword`);
      out.push({ tool: base.split("-")[0], argv, pgpassword });
    }
    return out;
  };
  return { bin, log, calls };
}

/** `url` with a password in both places libpq reads one from. */
function withPasswords(url: string): string {
  const u = new URL(url);
  u.password = USER_SECRET;
  u.search = `?application_name=argv-test&password=${encodeURIComponent(QUERY_SECRET)}`;
  return u.toString();
}

function assertNoSecretInArgv(calls: Recorded[], tools: string[]) {
  assert.deepEqual([...new Set(calls.map((c) => c.tool))].sort(), [...tools].sort());
  for (const c of calls) {
    const line = c.argv.join(" ");
    for (const secret of [USER_SECRET, QUERY_SECRET, encodeURIComponent(QUERY_SECRET)]) {
      assert.ok(!line.includes(secret), `${c.tool} got a secret on its command line: ${line}`);
    }
    assert.ok(!/password/i.test(line), `${c.tool}: ${line}`);
    if (c.argv[0] !== "--version") assert.equal(c.pgpassword, QUERY_SECRET, c.tool);
  }
}

Deno.test({
  name: "backup and restore start pg_dump, pg_restore with no secret on their command line" +
    (serverUrl() ? "" : " (needs TEST_DATABASE_URL)") +
    (missing.length ? ` (skipped: ${missing.join(", ")} not on PATH)` : ""),
  ignore: !serverUrl() || missing.length > 0,
  ...serviceTest,
  fn: async () => {
    await using source = await testDb();
    await using target = await emptyTestDb();
    const tools = await standIns();
    const out = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    const env = {
      PATH: `${tools.bin}:${Deno.env.get("PATH")}`,
      FAKE_LOG: tools.log,
      FAKE_REAL: realTool("pg_dump")!.replace(/\/pg_dump$/, ""),
    };
    try {
      await source.db.query("insert into telegram_chats (chat_id, label) values (77, 'argv')");
      const backup = await runCli(
        ["backup", "--out", out],
        { ...env, DATABASE_URL: withPasswords(source.url!) },
        ALLOW_RUN,
      );
      assert.equal(backup.code, 0, backup.stderr);
      assertNoSecretInArgv(await tools.calls(), ["pg_dump"]);
      const [file] = [...Deno.readDirSync(out)].map((e) => `${out}/${e.name}`);

      await Deno.remove(tools.log, { recursive: true });
      await Deno.mkdir(tools.log);
      const restore = await runCli(["restore", file], {
        ...env,
        DATABASE_URL: withPasswords(target.url!),
        FAKE_LOCK_SQL:
          `select count(*) from pg_locks where locktype = 'advisory' and objid = ${INSTANCE_LOCK_KEY} and granted and database = (select oid from pg_database where datname = current_database())`,
      }, ALLOW_RUN);
      assert.equal(restore.code, 0, restore.stderr);
      assertNoSecretInArgv(await tools.calls(), ["pg_restore"]);
      assert.equal(
        (await Deno.readTextFile(`${tools.log}/lock`)).trim(),
        "1",
        "the restore holds the instance lock while pg_restore runs",
      );
      const rows = await target.db.query("select 1 from telegram_chats where chat_id = 77");
      assert.equal(rows.length, 1, "the backup was really restored");
    } finally {
      for (const d of [tools.bin, tools.log, out]) await Deno.remove(d, { recursive: true });
    }
  },
});

Deno.test({
  name: "a backup running long says so, and one past BACKUP_TIMEOUT_S is killed, leaving no file" +
    (serverUrl() ? "" : " (needs TEST_DATABASE_URL)"),
  ignore: !serverUrl(),
  ...serviceTest,
  fn: async () => {
    await using source = await testDb();
    const tools = await standIns();
    const out = await Deno.makeTempDir({ prefix: "pgsl-bk-" });
    try {
      const t0 = performance.now();
      const r = await runCli(["backup", "--out", out], {
        PATH: `${tools.bin}:${Deno.env.get("PATH")}`,
        FAKE_LOG: tools.log,
        FAKE_SLEEP: "60",
        BACKUP_TIMEOUT_S: "7",
        DATABASE_URL: source.url!,
      }, ALLOW_RUN);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(performance.now() - t0 < 30_000, "pg_dump was killed, not waited for");
      assert.match(r.stderr, /Still writing the backup: \d+ s so far \(it gives up after 7 s/);
      assert.match(r.stderr, /did not finish within 7 s \(BACKUP_TIMEOUT_S\)/);
      assert.deepEqual([...Deno.readDirSync(out)], [], "no partial file is left");
    } finally {
      for (const d of [tools.bin, tools.log, out]) await Deno.remove(d, { recursive: true });
    }
  },
});

/** Runs a deploy/ script with the stand-ins first on PATH. */
async function script(name: string, args: string[], env: Record<string, string>) {
  const out = await new Deno.Command("bash", {
    args: [`${DEPLOY}${name}`, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("the deploy scripts give the tools the password in PGPASSWORD, never as an argument", async () => {
  const tools = await standIns();
  const dir = await Deno.makeTempDir({ prefix: "pgsl-deploy-" });
  const env = {
    PATH: `${tools.bin}:${Deno.env.get("PATH")}`,
    FAKE_LOG: tools.log,
    DATABASE_URL: withPasswords("postgres://app@db.example:5432/pgsl"),
  };
  try {
    for (
      const [name, args] of [
        ["backup.sh", [`${dir}/dumps`]],
        ["restore.sh", [`${dir}/x.dump`]],
        ["base_backup.sh", [`${dir}/base`]],
      ] as const
    ) {
      const r = await script(name, [...args], env);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    }
    const calls = await tools.calls();
    assertNoSecretInArgv(calls, ["pg_dump", "pg_restore", "psql", "pg_basebackup"]);
    const dump = calls.find((c) => c.tool === "pg_dump")!;
    assert.equal(
      dump.argv.at(-1),
      "postgres://app@db.example:5432/pgsl?application_name=argv-test",
    );

    // A secret libpq takes from no environment variable: refused before any tool runs.
    await Deno.remove(tools.log, { recursive: true });
    await Deno.mkdir(tools.log);
    const r = await script("backup.sh", [`${dir}/dumps`], {
      ...env,
      DATABASE_URL: "postgres://app@db.example/pgsl?sslpassword=key-S3cret",
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /sslpassword/);
    assert.ok(!r.stderr.includes("key-S3cret"));
    assert.deepEqual(await tools.calls(), []);
  } finally {
    for (const d of [tools.bin, tools.log, dir]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("the deploy scripts take out a password holding a raw ?, # or @ as libpq reads it", async () => {
  const tools = await standIns();
  const dir = await Deno.makeTempDir({ prefix: "pgsl-deploy-" });
  try {
    for (
      const [url, password, rest] of [
        [
          "postgres://app:pa?ss-S3cret@db.example:5432/pgsl",
          "pa?ss-S3cret",
          "db.example:5432/pgsl",
        ],
        [
          "postgres://app:pa#ss-S3cret@db.example/pgsl?sslmode=require",
          "pa#ss-S3cret",
          "db.example/pgsl?sslmode=require",
        ],
        ["postgres://app:p@ss-S3cret@db.example/pgsl", "p@ss-S3cret", "db.example/pgsl"],
        // libpq reads a URL with no path this way too: the first "@" ends the user information.
        [
          "postgres://app:pw-S3cret@db.example?application_name=a@b",
          "pw-S3cret",
          "db.example?application_name=a@b",
        ],
      ]
    ) {
      await Deno.remove(tools.log, { recursive: true });
      await Deno.mkdir(tools.log);
      const r = await script("backup.sh", [`${dir}/dumps`], {
        PATH: `${tools.bin}:${Deno.env.get("PATH")}`,
        FAKE_LOG: tools.log,
        DATABASE_URL: url,
      });
      assert.equal(r.code, 0, `${url}: ${r.stderr}`);
      const [dump] = await tools.calls();
      assert.equal(dump.argv.at(-1), `postgres://app@${rest}`, url);
      assert.equal(dump.pgpassword, password, url);
    }
  } finally {
    for (const d of [tools.bin, tools.log, dir]) await Deno.remove(d, { recursive: true });
  }
});
