import assert from "node:assert/strict";
import { main } from "../../../main.ts";
import { testDb } from "../../helpers/db.ts";
import { captureIo, dbEnvOf } from "../../helpers/io.ts";
import { openEmbeddedDb } from "../../../db/embedded.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;

Deno.test({
  ...opts,
  name:
    "ledger verify and doctor pass on an intact ledger and name the row changed past the triggers",
  fn: async () => {
    const t = await testDb({ onDisk: true });
    const withDb = async (fn: (db: Db) => Promise<void>) => {
      if (t.kind === "server") return await fn(t.db);
      const db = await openEmbeddedDb({ dataDir: t.dataDir });
      try {
        await fn(db);
      } finally {
        await db.close();
      }
    };
    await t.db.query("insert into exchanges (id) values ('binance')");
    for (const a of ["100", "-1.5", "2"]) {
      await t.db.query(
        "insert into transactions (exchange_id, asset, amount, kind) values ('binance', 'USDT', $1, 'deposit')",
        [a],
      );
    }
    if (t.kind === "embedded") await t.db.close();
    try {
      let io = captureIo(dbEnvOf(t));
      assert.equal(await main(["ledger", "verify", "--json"], io), 0, io.stderr.join("\n"));
      const ok = JSON.parse(io.stdout.join(""));
      assert.deepEqual([ok.ok, ok.rows, ok.head.seq], [true, 3, 3]);
      assert.match(ok.head.hash, /^[0-9a-f]{64}$/);

      await withDb(async (db) => {
        await db.transaction(async (tx) => {
          await tx.query("set local session_replication_role = replica");
          await tx.query("update transactions set amount = 1000 where chain_seq = 2");
        });
      });
      io = captureIo(dbEnvOf(t));
      assert.equal(await main(["ledger", "verify"], io), 1);
      assert.match(
        io.stdout.join("\n"),
        /FAIL {2}ledger chain broken at row 2 \(transactions\.id \d+\)/,
      );

      io = captureIo(dbEnvOf(t));
      assert.equal(await main(["doctor", "--json"], io), 1);
      const report = JSON.parse(io.stdout.join(""));
      const ledger = report.checks.find((c: { name: string }) => c.name === "ledger");
      assert.equal(ledger.ok, false);
      assert.match(ledger.detail, /broken at row 2/);
      if (t.kind === "server") {
        const role = report.checks.find((c: { name: string }) => c.name === "role");
        assert.match(role.detail, /superuser/);
      }
      io = captureIo(dbEnvOf(t));
      assert.equal(await main(["ledger", "check"], io), 2, "unknown subcommand is a usage error");
    } finally {
      await t.close();
    }
  },
});
