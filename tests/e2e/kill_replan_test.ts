/**
 * kill -9 of a real `serve` (live mode, the fake exchange) during a burst, with some orders
 * recorded NEW that never reached the book (the fake swallows them, as a request still in
 * ccxt's queue when the process died). After the restart every acknowledged alert is traded
 * exactly once: the swallowed orders are given up as never placed and their alerts planned
 * again under new client order ids; the booked ones are found and recorded, not resent.
 */
import assert from "node:assert/strict";
import { testDb } from "../helpers/db.ts";
import { startFakeExchange } from "../fakes/exchange.ts";
import { spawnServe } from "../helpers/process.ts";
import { count, executionSetup, liveExchange } from "../helpers/execution.ts";
import { openEmbeddedDb } from "../../db/embedded.ts";
import type { Db } from "../../db/db.ts";
import { insertStrategy, serviceTest } from "../helpers/fixtures.ts";

const TOKEN = "replan-webhook-token-0123456789abcdefgh";
const ALERTS = 20;
const SWALLOWED = 5;

Deno.test({
  name: "after kill -9 every acknowledged alert is traded once, orders never placed planned again",
  ...serviceTest,
  fn: async () => {
    const t = await testDb({ onDisk: true });
    const fake = startFakeExchange({ balances: { USDT: "1000000" } });
    await insertStrategy(t.db, "burst");
    let db: Db | undefined = t.db;
    if (t.kind === "embedded") {
      await t.db.close();
      db = undefined;
    }
    const exchange = await liveExchange(fake);
    try {
      fake.fail("hang-before", SWALLOWED);
      const serve = await spawnServe({
        ...(t.url ? { DATABASE_URL: t.url } : { DATA_DIR: t.dataDir! }),
        PINE_WEBHOOK_TOKEN: TOKEN,
        EXCHANGE_MODE: "live",
        EXCHANGE_API_URL: fake.url,
        EXCHANGE_TIMEOUT_MS: "60000",
        // Entry orders are counted here; stops on the exchange are tested in protective_test.ts.
        EXCHANGE_STOPS: "false",
        BROKER_API_KEY: "replan-key-0000",
        BROKER_API_SECRET: "replan-secret-0000",
      });
      const acknowledged: string[] = [];
      try {
        await Promise.all(Array.from({ length: ALERTS }, async (_, i) => {
          const key = `burst-${i}`;
          const res = await fetch(`${serve.url}/alerts/pine`, {
            method: "POST",
            headers: { "x-auth-token": TOKEN, "content-type": "application/json" },
            body: JSON.stringify({
              symbol: "BTC/USDT",
              side: "buy",
              strategy: "burst",
              qty: "0.001",
              sl: "40000",
              idempotency_key: key,
            }),
          });
          await res.body?.cancel();
          if (res.status === 202) acknowledged.push(key);
        }));
        for (let i = 0; i < 1_800 && (fake.requests["POST order"] ?? 0) < ALERTS; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        await serve.stop("SIGKILL");
      }
      if (t.kind === "server") {
        // The test server's role is a superuser: serve says so, once.
        const warned = serve.lines.filter((l) => /Database role: connected as .*superuser/.test(l));
        assert.equal(warned.length, 1, serve.lines.join("\n"));
      }
      assert.equal(acknowledged.length, ALERTS);
      assert.equal(fake.orders.length, ALERTS - SWALLOWED, "the swallowed orders never booked");

      db ??= await openEmbeddedDb({ dataDir: t.dataDir });
      // The swallowed ones, and any booked order whose answer the kill cut off: NEW, or UNKNOWN
      // when a swallowed call ran into EXCHANGE_TIMEOUT_MS first (a slow machine).
      const left = await count(db, "select 1 from orders where status in ('NEW', 'UNKNOWN')");
      assert.ok(left >= SWALLOWED, `recorded, never answered: ${left}`);
      const agent = await executionSetup(db, exchange);
      await agent.recover();
      for (let pass = 0; pass < 6; pass++) {
        await agent.reconcileOnce();
        await agent.runOnce();
      }
      const alerts = await db.query<{ status: string; n: number }>(
        "select status, count(*)::int as n from inbound_alerts group by status",
      );
      assert.deepEqual(alerts.map((a) => [a.status, a.n]), [["EXECUTED", ALERTS]]);
      assert.equal(fake.orders.length, ALERTS, "one booked order per alert");
      const perKey = new Map<string, number>();
      for (const o of fake.orders) {
        const k = o.clientOrderId.split("-")[0];
        perKey.set(k, (perKey.get(k) ?? 0) + 1);
      }
      assert.equal(perKey.size, ALERTS, "no key booked twice");
      assert.equal(
        await count(db, "select 1 from orders where client_order_id like '%-2'"),
        SWALLOWED,
      );
      const [sums] = await db.query<{ ledger: string; positions: string }>(
        `select (select sum(amount) from transactions where asset = 'BTC')::text as ledger,
                (select sum(qty) from positions where status = 'OPEN')::text as positions`,
      );
      assert.equal(Number(sums.ledger), ALERTS * 0.001);
      assert.equal(Number(sums.positions), ALERTS * 0.001);
      assert.ok(Math.abs(fake.balance("BTC") - ALERTS * 0.001) < 1e-9);
    } finally {
      await exchange.close?.();
      await fake.close();
      if (t.kind === "embedded") {
        await db?.close();
        await Deno.remove(t.dataDir!, { recursive: true }).catch(() => {});
      } else await t.close();
    }
  },
});
