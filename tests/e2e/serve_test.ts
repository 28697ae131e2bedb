/**
 * The real program, as an operator runs it: `serve` on the test database answers /healthz, a
 * second instance refuses, SIGTERM stops it cleanly; bad input ends with one line and the
 * documented exit code.
 */
import assert from "node:assert/strict";
import { testDb } from "../helpers/db.ts";
import { runCli, spawnServe } from "../helpers/process.ts";
import { serviceTest } from "../helpers/fixtures.ts";

const opts = serviceTest;

/** Environment that points a child process at a test database (server URL or data dir). */
async function dbEnv() {
  const t = await testDb({ onDisk: true });
  // The child opens the database itself; an embedded one must be closed here first.
  if (t.kind === "embedded") await t.db.close();
  const env: Record<string, string> = t.url ? { DATABASE_URL: t.url } : { DATA_DIR: t.dataDir! };
  return { t, env };
}

Deno.test({
  ...opts,
  name: "serve comes up on the configured database, answers /healthz and stops on SIGTERM",
  fn: async () => {
    const { t, env } = await dbEnv();
    try {
      const serve = await spawnServe(env);
      const res = await fetch(`${serve.url}/healthz`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: "ok", db: "up" });
      const notFound = await fetch(`${serve.url}/nope`);
      assert.equal(notFound.status, 404);
      await notFound.body?.cancel();
      assert.equal(await serve.stop("SIGTERM"), 0);
      assert.ok(serve.lines.some((l) => l.includes('"Stopped"')), "logs that it stopped");
      for (const line of serve.lines) JSON.parse(line);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "a second serve on the same database refuses with a clear message",
  fn: async () => {
    const { t, env } = await dbEnv();
    try {
      await using first = await spawnServe(env);
      const second = await runCli(["serve"], { ...env, HTTP_PORT: "0" });
      assert.equal(second.code, 1);
      assert.match(second.stderr, /already running|in use by another process/);
      assert.equal(second.stderr.trim().split("\n").filter((l) => !l.startsWith("{")).length, 1);
      const res = await fetch(`${first.url}/healthz`);
      assert.equal(res.status, 200, "the first instance keeps serving");
      await res.body?.cancel();
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "bad input ends with one line and exit code 2",
  fn: async () => {
    const unknown = await runCli(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr.trim(), 'Unknown command "frobnicate"; run: pg-solo-lite help');

    const flag = await runCli(["migrate", "--bogus"]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /Unknown option '--bogus'; see: pg-solo-lite migrate --help/);

    const badEnv = await runCli(["serve"], {
      HTTP_PORT: "http",
      PINE_WEBHOOK_TOKEN: "tooshortsecret",
      EXCHANGE_MODE: "real",
    });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /Invalid configuration \(3 problems\)/);
    assert.ok(!badEnv.stderr.includes("tooshortsecret"), "the secret is not echoed");
    assert.ok(!badEnv.stderr.includes("    at "), "no stack trace");

    const help = await runCli(["serve", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: pg-solo-lite serve/);
  },
});

Deno.test({
  ...opts,
  name: "an unreachable database server ends with exit code 1 and says what to check",
  fn: async () => {
    const r = await runCli(["migrate"], {
      DATABASE_URL: "postgres://app:s3cretpass@127.0.0.1:1/none",
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: Cannot reach the database at .*check DATABASE_URL/);
    assert.ok(!r.stderr.includes("s3cretpass"), "the password is masked");
    assert.ok(!r.stderr.includes("    at "), "no stack trace");
  },
});
