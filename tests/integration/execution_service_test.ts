/**
 * Execution inside the running service: the component syncs the markets, wakes on the
 * decisions queue, and orders reach the fake exchange through ccxt with EXCHANGE_API_URL.
 */
import assert from "node:assert/strict";
import { testDb } from "../helpers/db.ts";
import { startFakeExchange } from "../fakes/exchange.ts";
import { insertAlert } from "../helpers/execution.ts";
import { loadConfig } from "../../core/config.ts";
import { startService } from "../../app/service.ts";
import { executionComponent } from "../../agents/execution_component.ts";

Deno.test({
  name: "serve executes a pushed alert on the exchange named by EXCHANGE_API_URL",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const t = await testDb();
    const fake = startFakeExchange();
    const config = loadConfig({
      HTTP_PORT: "0",
      EXCHANGE_MODE: "live",
      BROKER_API_KEY: "service-test-key",
      BROKER_API_SECRET: "service-test-secret",
      EXCHANGE_API_URL: fake.url,
      EXCHANGE_TIMEOUT_MS: "2000",
    });
    const service = await startService(config, { db: t.db, factories: [executionComponent] });
    try {
      const id = await insertAlert(t.db, { idempotencyKey: "svc-1", qty: "0.001" });
      service.ctx.queues.decisions.push(id);
      let status = "RECEIVED";
      for (let i = 0; i < 200 && (status === "RECEIVED" || status === "PROCESSING"); i++) {
        await new Promise((r) => setTimeout(r, 50));
        [{ status }] = await t.db.query<{ status: string }>(
          "select status from inbound_alerts where id = $1",
          [id],
        );
      }
      assert.equal(status, "EXECUTED");
      assert.equal(fake.orders.length, 1);
      assert.equal(fake.requests["GET exchangeInfo"], 1);
    } finally {
      await service.stop();
      await fake.close();
      await t.close();
    }
  },
});
