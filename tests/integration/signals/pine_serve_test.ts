/**
 * The webhook as `serve` mounts it, over a real socket: the route exists only with a token,
 * and an oversized body sent in chunks is refused with 413 while nothing is stored.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startService } from "../../../service/service.ts";
import { inboundComponent } from "../../../signals/webhook.ts";
import { loadConfig } from "../../../core/config.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";

const TOKEN = "serve-token-0123456789abcdef0123456789";

Deno.test({
  name: "serve mounts POST /alerts/pine with a token and cuts off a streamed 64 KiB + 1 body",
  ...serviceTest,
  async fn() {
    const t = await testDb();
    const config = loadConfig({ HTTP_PORT: "0", PINE_WEBHOOK_TOKEN: TOKEN, LOG_LEVEL: "error" });
    const service = await startService(config, { db: t.db, factories: [inboundComponent] });
    try {
      await insertStrategy(t.db, "trend");
      const url = `${service.url}/alerts/pine`;
      const ok = await fetch(url, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({
          symbol: "BTC/USDT",
          side: "buy",
          strategy: "trend",
          auth_token: TOKEN,
        }),
      });
      assert.equal(ok.status, 202);
      const { alert_id } = await ok.json();
      assert.deepEqual(service.ctx.queues.decisions.drain(), [alert_id]);

      const chunk = new Uint8Array(4096).fill(0x20);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent >= 65_537) return c.close();
          const n = Math.min(chunk.length, 65_537 - sent);
          sent += n;
          c.enqueue(chunk.subarray(0, n));
        },
      });
      const big = await fetch(url, { method: "POST", headers: { "x-auth-token": TOKEN }, body });
      assert.equal(big.status, 413);
      await big.body?.cancel();
      const wrong = await fetch(url, { method: "GET" });
      assert.equal(wrong.status, 405);
      await wrong.body?.cancel();
      const [n] = await t.db.query<{ n: number }>("select count(*)::int8 as n from inbound_alerts");
      assert.equal(n.n, 1);
    } finally {
      await service.stop();
      await t.close();
    }
  },
});
