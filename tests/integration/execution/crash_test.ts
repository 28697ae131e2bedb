/**
 * kill -9 between "order recorded" and "exchange answered": a real `serve` process records the
 * order, the fake exchange books it and never answers, the process is killed. At restart the
 * order is found by its client id and recorded once; nothing is sent twice.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { count, executionSetup, insertAlert, liveExchange } from "../../helpers/execution.ts";
import { openEmbeddedDb } from "../../../db/embedded.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  name: "a serve killed while its order is in flight reconciles it at restart without a resend",
  ...serviceTest,
  fn: async () => {
    const t = await testDb({ onDisk: true });
    const fake = startFakeExchange();
    let db: Db | undefined = t.db;
    let child: Deno.ChildProcess | undefined;
    const exchange = await liveExchange(fake);
    try {
      const alertId = await insertAlert(t.db, { idempotencyKey: "kill-1", qty: "0.001" });
      if (!t.url) {
        // The embedded database belongs to one process at a time: hand it to the child.
        await t.db.close();
        db = undefined;
      }
      fake.fail("hang");
      child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--unstable-cron", "main.ts", "serve"],
        cwd: new URL("../../../", import.meta.url),
        env: {
          ...(t.url ? { DATABASE_URL: t.url } : { DATA_DIR: t.dataDir! }),
          HTTP_PORT: "0",
          LOG_LEVEL: "error",
          EXCHANGE_MODE: "live",
          EXCHANGE_API_URL: fake.url,
          EXCHANGE_TIMEOUT_MS: "60000",
          BROKER_API_KEY: "crash-test-key",
          BROKER_API_SECRET: "crash-test-secret",
        },
        stdout: "null",
        stderr: "null",
      }).spawn();
      for (let i = 0; i < 600 && fake.orders.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(fake.orders.length, 1, "the child sent the order");
      child.kill("SIGKILL");
      await child.status;
      child = undefined;

      db ??= await openEmbeddedDb({ dataDir: t.dataDir });
      const [before] = await db.query<{ status: string }>("select status from orders");
      assert.equal(before.status, "NEW", "recorded, never answered");

      const agent = await executionSetup(db, exchange);
      await agent.recover();
      await agent.reconcileOnce();
      const [after] = await db.query<{ status: string }>("select status from orders");
      assert.equal(after.status, "FILLED");
      assert.equal(await count(db, "select 1 from executions"), 1);
      assert.equal(await count(db, "select 1 from transactions"), 3);
      assert.equal(fake.requests["POST order"], 1, "never resent");
      const [alert] = await db.query<{ status: string }>(
        "select status from inbound_alerts where id = $1",
        [alertId],
      );
      assert.equal(alert.status, "EXECUTED");
    } finally {
      if (child) {
        child.kill("SIGKILL");
        await child.status;
      }
      await exchange.close?.();
      await fake.close();
      if (t.url) await t.close();
      else {
        await db?.close();
        await Deno.remove(t.dataDir!, { recursive: true }).catch(() => {});
      }
    }
  },
});
