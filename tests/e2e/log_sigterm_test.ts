/**
 * SIGTERM during a storm of alerts: the log is written in batches, and no line is lost at
 * the stop. Every alert answered 202 has its "Accepted Pine alert" line, and the last lines
 * are the stop's.
 */
import assert from "node:assert/strict";
import { testDb } from "../helpers/db.ts";
import { spawnServe } from "../helpers/process.ts";
import { insertStrategy, serviceTest } from "../helpers/fixtures.ts";

const TOKEN = "sigterm-webhook-token-0123456789abcdef";

Deno.test({
  name: "no log line is lost when serve gets SIGTERM under load",
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
      const acknowledged: number[] = [];
      let seq = 0;
      let stopping = false;
      const worker = async () => {
        // Bounded: at most 5,000 alerts in all, whatever happens to the stop.
        while (!stopping && seq < 5_000) {
          try {
            const res = await fetch(`${serve.url}/alerts/pine`, {
              method: "POST",
              headers: { "x-auth-token": TOKEN, "content-type": "application/json" },
              body: JSON.stringify({
                symbol: "BTC/USDT",
                side: "buy",
                strategy: "storm",
                qty: "0.001",
                idempotency_key: `sigterm-${++seq}`,
              }),
            });
            const body = await res.json().catch(() => ({}));
            if (res.status === 202) acknowledged.push(body.alert_id);
          } catch {
            return; // the listener closed
          }
        }
      };
      const workers = Array.from({ length: 8 }, worker);
      while (acknowledged.length < 150 && seq < 5_000) {
        await new Promise((r) => setTimeout(r, 2));
      }
      const code = await serve.stop("SIGTERM");
      stopping = true;
      await Promise.all(workers);
      assert.equal(code, 0);

      const logged = new Set<number>();
      for (const line of serve.lines) {
        const r = JSON.parse(line);
        if (r.message.startsWith("Accepted Pine alert")) logged.add(r.properties.alertId);
      }
      const missing = acknowledged.filter((id) => !logged.has(id));
      assert.ok(acknowledged.length >= 150);
      assert.deepEqual(missing, [], "every acknowledged alert has its log line");
      assert.equal(JSON.parse(serve.lines.at(-1)!).message, "Stopped");
    } finally {
      await t.close();
    }
  },
});
