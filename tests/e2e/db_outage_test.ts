/**
 * A database connection loss (every backend of the service killed, as a PostgreSQL restart
 * does) does not stop `serve`: the webhook answers 503 at worst while it lasts, then accepts
 * alerts again, and /healthz recovers. Needs a server: PGlite has no connections to lose.
 */
import assert from "node:assert/strict";
import { serverUrl, testDb } from "../helpers/db.ts";
import { spawnServe } from "../helpers/process.ts";
import { insertStrategy, serviceTest } from "../helpers/fixtures.ts";

const TOKEN = "outage-webhook-token-0123456789abcdef";
const needsServer = serverUrl() ? "" : " (needs a PostgreSQL server: set TEST_DATABASE_URL)";

Deno.test({
  name: "serve keeps working after all its database connections are killed" + needsServer,
  ignore: !serverUrl(),
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    await insertStrategy(t.db, "outage");
    await using serve = await spawnServe({ DATABASE_URL: t.url!, PINE_WEBHOOK_TOKEN: TOKEN });
    let seq = 0;
    const post = async () => {
      const res = await fetch(`${serve.url}/alerts/pine`, {
        method: "POST",
        headers: { "x-auth-token": TOKEN, "content-type": "application/json" },
        body: JSON.stringify({
          symbol: "BTC/USDT",
          side: "buy",
          strategy: "outage",
          qty: "0.001",
          idempotency_key: `outage-${++seq}`,
        }),
      });
      await res.body?.cancel();
      return res.status;
    };
    assert.equal(await post(), 202);

    const dbName = new URL(t.url!).pathname.slice(1);
    const [killed] = await t.db.query<{ n: number }>(
      `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
        where datname = $1 and pid <> pg_backend_pid() and application_name like 'pg-solo-lite%'`,
      [dbName],
    );
    assert.ok(killed.n >= 1, "the service's connections were found and killed");

    // Every answer during the loss is 202 or 503 (TradingView re-sends a 503), never a crash.
    const statuses: number[] = [];
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const s = await post();
      statuses.push(s);
      if (s === 202 && statuses.filter((x) => x === 202).length >= 3) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(statuses.every((s) => s === 202 || s === 503), `statuses ${statuses}`);
    assert.ok(statuses.filter((s) => s === 202).length >= 3, `recovered: ${statuses}`);
    const health = await fetch(`${serve.url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();

    const accepted = 1 + statuses.filter((s) => s === 202).length;
    const [stored] = await t.db.query<{ n: number }>(
      "select count(*)::int as n from inbound_alerts where status in ('RECEIVED', 'PROCESSING', 'REJECTED', 'EXECUTED', 'FAILED')",
    );
    assert.equal(stored.n, accepted, "every acknowledged alert is stored");
    assert.equal(await serve.stop(), 0, "it still stops cleanly");
  },
});
