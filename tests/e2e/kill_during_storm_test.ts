/**
 * kill -9 in the middle of a storm of alerts: every alert that was answered 202 is in the
 * database after the crash (committed before the answer), and the restarted service answers
 * each re-sent one as a duplicate rather than a new signal.
 */
import assert from "node:assert/strict";
import { testDb } from "../helpers/db.ts";
import { spawnServe } from "../helpers/process.ts";
import { openEmbeddedDb } from "../../db/embedded.ts";
import { insertStrategy, serviceTest } from "../helpers/fixtures.ts";

const TOKEN = "storm-webhook-token-0123456789abcdefgh";

Deno.test({
  name: "no acknowledged alert is lost when serve is killed -9 during a storm",
  ...serviceTest,
  fn: async () => {
    const t = await testDb({ onDisk: true });
    await insertStrategy(t.db, "storm");
    if (t.kind === "embedded") await t.db.close();
    const env: Record<string, string> = {
      ...(t.url ? { DATABASE_URL: t.url } : { DATA_DIR: t.dataDir! }),
      PINE_WEBHOOK_TOKEN: TOKEN,
    };
    try {
      const serve = await spawnServe(env);
      const acknowledged: string[] = [];
      let seq = 0;
      let killed = false;
      const post = async (url: string, key: string) => {
        const res = await fetch(`${url}/alerts/pine`, {
          method: "POST",
          headers: { "x-auth-token": TOKEN, "content-type": "application/json" },
          body: JSON.stringify({
            symbol: "BTC/USDT",
            side: "buy",
            strategy: "storm",
            qty: "0.001",
            idempotency_key: key,
          }),
        });
        const body = await res.json().catch(() => ({}));
        return { status: res.status, body };
      };
      const worker = async () => {
        while (!killed) {
          const key = `storm-${++seq}`;
          try {
            const r = await post(serve.url, key);
            if (r.status === 202) acknowledged.push(key);
          } catch {
            // The connection died with the process: not acknowledged, TradingView would re-send.
          }
        }
      };
      const workers = Array.from({ length: 8 }, worker);
      while (acknowledged.length < 60) await new Promise((r) => setTimeout(r, 5));
      await serve.stop("SIGKILL");
      killed = true;
      await Promise.all(workers);

      const restarted = await spawnServe(env);
      try {
        for (const key of acknowledged.slice(-10)) {
          const again = await post(restarted.url, key);
          assert.equal(again.status, 200, `${key} is a duplicate after the crash`);
          assert.equal(again.body.status, "duplicate");
        }
      } finally {
        assert.equal(await restarted.stop(), 0);
      }
      const db = t.kind === "embedded" ? await openEmbeddedDb({ dataDir: t.dataDir }) : t.db;
      try {
        const rows = await db.query<{ idempotency_key: string }>(
          "select idempotency_key from inbound_dedupe_keys",
        );
        const stored = new Set(rows.map((r) => r.idempotency_key));
        const lost = acknowledged.filter((k) => !stored.has(k));
        assert.deepEqual(lost, [], "every 202 survived the crash");
        assert.ok(acknowledged.length >= 60);
      } finally {
        if (db !== t.db) await db.close();
      }
    } finally {
      await t.close();
    }
  },
});
