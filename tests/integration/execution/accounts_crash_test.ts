/**
 * kill -9 of a real `serve` trading one signal on three accounts, each with its keys and its
 * own fake Binance from ACCOUNT_<NAME>_* variables: one account's order is in flight (its
 * exchange books it and never answers) when the process dies. After the restart every account
 * still has exactly one order, and nothing is sent twice.
 */
import assert from "node:assert/strict";
import { fakeClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import { openEmbeddedDb } from "../../../db/embedded.ts";
import { createExecutionAgent } from "../../../execution/agent.ts";
import { addAccount, setSubscriptions } from "../../../execution/accounts.ts";
import { syncMarkets } from "../../../execution/markets.ts";
import type { Exchange } from "../../../exchange/port.ts";
import { type FakeExchange, startFakeExchange } from "../../fakes/exchange.ts";
import { testDb } from "../../helpers/db.ts";
import { count, insertAlert, liveExchange, testConfig } from "../../helpers/execution.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";

const NAMES = ["alice", "bob", "carol"];

Deno.test({
  name: "a serve killed mid-signal on three accounts leaves one order per account after restart",
  ...serviceTest,
  fn: async () => {
    const t = await testDb({ onDisk: true });
    const fakes: Record<string, FakeExchange> = {};
    for (const n of NAMES) fakes[n] = startFakeExchange();
    let db: Db | undefined = t.db;
    let child: Deno.ChildProcess | undefined;
    const exchanges: Record<string, Exchange> = {};
    try {
      for (const n of NAMES) {
        await addAccount(t.db, { name: n, mode: "live", exchangeId: "binance" });
      }
      await insertStrategy(t.db, "trend");
      await setSubscriptions(t.db, "trend", NAMES);
      await insertAlert(t.db, { strategy: "trend", idempotencyKey: "kill-accounts-1" });
      if (!t.url) {
        // The embedded database belongs to one process at a time: hand it to the child.
        await t.db.close();
        db = undefined;
      }
      fakes.bob.fail("hang");
      const keys: Record<string, string> = {};
      for (const n of NAMES) {
        const v = n.toUpperCase();
        keys[`ACCOUNT_${v}_API_KEY`] = `${n}-test-key-0000`;
        keys[`ACCOUNT_${v}_API_SECRET`] = `${n}-test-secret-0000`;
        keys[`ACCOUNT_${v}_API_URL`] = fakes[n].url;
      }
      child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--unstable-cron", "main.ts", "serve"],
        cwd: new URL("../../../", import.meta.url),
        env: {
          ...(t.url ? { DATABASE_URL: t.url } : { DATA_DIR: t.dataDir! }),
          HTTP_PORT: "0",
          LOG_LEVEL: "error",
          // The default account trades paper; its market data (and the market sync) is alice's fake.
          EXCHANGE_MODE: "paper",
          EXCHANGE_API_URL: fakes.alice.url,
          EXCHANGE_TIMEOUT_MS: "60000",
          // One entry order per account is what this test counts; stops on the exchange are
          // tested in protective_test.ts.
          EXCHANGE_STOPS: "false",
          ...keys,
        },
        stdout: "null",
        stderr: "null",
      }).spawn();
      const placed = () => NAMES.every((n) => fakes[n].orders.length === 1);
      for (let i = 0; i < 600 && !placed(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(placed(), "the child sent one order on each account");
      child.kill("SIGKILL");
      await child.status;
      child = undefined;

      db ??= await openEmbeddedDb({ dataDir: t.dataDir });
      const before = await db.query<{ name: string; status: string }>(
        `select a.name, o.status from orders o join accounts a on a.id = o.account_id
          order by a.name`,
      );
      assert.deepEqual(before.map((o) => o.name), NAMES);
      assert.equal(before[1].status, "NEW", "bob's order recorded, never answered");
      const [fp] = await db.query<{ n: number }>(
        "select count(*)::int as n from api_keys where revoked_at is null",
      );
      assert.equal(fp.n, 3, "a fingerprint per account's key");
      const stored = JSON.stringify(await db.query("select * from api_keys"));
      for (const n of NAMES) assert.ok(!stored.includes(`${n}-test-key`), "never the key itself");

      for (const n of NAMES) exchanges[n] = await liveExchange(fakes[n]);
      await syncMarkets(db, exchanges.alice);
      const agent = createExecutionAgent({
        db,
        exchangeFor: (a) => Promise.resolve(exchanges[a.name]),
        clock: fakeClock(new Date(Date.now() + 120_000)),
        log: logger("test"),
        config: testConfig,
        tuning: { minAgeMs: 0, notFoundMinAgeMs: 0 },
      });
      await agent.recover();
      await agent.reconcileOnce();
      await agent.runOnce();
      await agent.runOnce();
      const after = await db.query<{ name: string; status: string }>(
        `select a.name, o.status from orders o join accounts a on a.id = o.account_id
          order by a.name`,
      );
      assert.deepEqual([...after], NAMES.map((name) => ({ name, status: "FILLED" })));
      for (const n of NAMES) {
        assert.equal(fakes[n].requests["POST order"], 1, `${n}: never resent`);
      }
      assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 3);
    } finally {
      if (child) {
        child.kill("SIGKILL");
        await child.status;
      }
      for (const ex of Object.values(exchanges)) await ex.close?.();
      for (const f of Object.values(fakes)) await f.close();
      if (t.url) await t.close();
      else {
        await db?.close();
        await Deno.remove(t.dataDir!, { recursive: true }).catch(() => {});
      }
    }
  },
});
