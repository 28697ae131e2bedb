import assert from "node:assert/strict";
import { main } from "../../../main.ts";
import { testDb, withTestData } from "../../helpers/db.ts";
import { captureIo, dbEnvOf } from "../../helpers/io.ts";
import { healthRoute } from "../../../http/server.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;

Deno.test({
  ...opts,
  name: "doctor reports what is configured and never prints a secret",
  fn: async () => {
    const t = await testDb({ onDisk: true });
    if (t.kind === "embedded") await t.db.close();
    try {
      const token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1";
      const io = captureIo({
        ...dbEnvOf(t),
        TELEGRAM_BOT_TOKEN: token,
        PINE_WEBHOOK_TOKEN: "p".repeat(40),
      });
      const code = await main(["doctor", "--json"], io);
      assert.equal(code, 0, io.stderr.join("\n"));
      const report = JSON.parse(io.stdout.join(""));
      assert.equal(report.ok, true);
      const byName = Object.fromEntries(
        report.checks.map((c: { name: string; detail: string }) => [c.name, c.detail]),
      );
      assert.match(byName.database, /schema up to date/);
      assert.match(byName.telegram, /bot token set; 0 active operator chat/);
      assert.match(byName.webhook, /POST \/alerts\/pine enabled/);
      assert.match(byName.exchange, /binance in paper mode; API keys not set/);
      const all = io.stdout.join("") + io.stderr.join("");
      assert.ok(!all.includes(token) && !all.includes("p".repeat(40)));
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "doctor fails on a database a newer version migrated, as serve and migrate refuse it",
  fn: async () => {
    const t = await testDb({ onDisk: true });
    if (t.kind === "embedded") await t.db.close();
    try {
      await withTestData(t, (db) =>
        db.query(
          "insert into schema_migrations (version, name, checksum) values (9999, '9999_future.sql', 'x')",
        ));
      const io = captureIo({ ...dbEnvOf(t) });
      const code = await main(["doctor", "--json"], io);
      assert.equal(code, 1, io.stdout.join("\n"));
      const report = JSON.parse(io.stdout.join(""));
      const database = report.checks.find((c: { name: string }) => c.name === "database");
      assert.equal(database.ok, false);
      assert.match(
        database.detail,
        /migrated by a newer version of pg-solo-lite \(migration\(s\) 9999 not shipped here\)/,
      );
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "doctor fails with exit code 1 on an invalid configuration and lists the problems",
  fn: async () => {
    const io = captureIo({ HTTP_PORT: "-1", EXCHANGE_MODE: "live" });
    const code = await main(["doctor"], io);
    assert.equal(code, 1);
    assert.match(io.stdout.join("\n"), /FAIL {2}config {4}HTTP_PORT/);
  },
});

Deno.test({
  ...opts,
  name: "doctor fails on an exchange id ccxt does not know",
  fn: async () => {
    const t = await testDb({ onDisk: true });
    if (t.kind === "embedded") await t.db.close();
    try {
      const io = captureIo({ ...dbEnvOf(t), EXCHANGE_ID: "nosuchexchange" });
      assert.equal(await main(["doctor"], io), 1);
      assert.match(io.stdout.join("\n"), /FAIL {2}exchange {2}EXCHANGE_ID "nosuchexchange" is not/);
    } finally {
      await t.close();
    }
  },
});

Deno.test("help lists every command; version prints the version", async () => {
  const io = captureIo();
  assert.equal(await main(["help"], io), 0);
  for (const c of ["serve", "migrate", "doctor", "version", "help"]) {
    assert.match(io.stdout.join("\n"), new RegExp(`^  ${c} `, "m"));
  }
  const v = captureIo();
  assert.equal(await main(["version", "--json"], v), 0);
  assert.match(JSON.parse(v.stdout[0]).version, /^\d+\.\d+\.\d+$/);
  const none = captureIo();
  assert.equal(await main([], none), 2, "no command is a usage error");
  const extra = captureIo();
  assert.equal(await main(["version", "extra"], extra), 2);
  assert.match(extra.stderr[0], /Unexpected argument "extra"/);
});

Deno.test("healthz answers 503 when the database does not answer", async () => {
  const down = {
    query: () => Promise.reject(new Error("connection refused")),
  } as unknown as Db;
  const res = await healthRoute(down).handler(new Request("http://x/healthz"), {
    remoteAddr: "127.0.0.1",
    params: {},
  });
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), { status: "degraded", db: "down" });
});
