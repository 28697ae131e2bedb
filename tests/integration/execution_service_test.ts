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

Deno.test({
  name: "serve watches the stop of an open position and sells it when the price falls through",
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
    const waitFor = async (sql: string, want: string) => {
      let got: string | undefined;
      // The risk loop checks every 5 s: a generous bound, not a timing assertion.
      for (let i = 0; i < 400 && got !== want; i++) {
        await new Promise((r) => setTimeout(r, 50));
        got = (await t.db.query<{ v: string }>(sql))[0]?.v;
      }
      assert.equal(got, want);
    };
    try {
      const id = await insertAlert(t.db, { idempotencyKey: "svc-sl", qty: "0.001", sl: "49000" });
      service.ctx.queues.decisions.push(id);
      await waitFor("select status as v from positions", "OPEN");
      fake.setPrice("BTCUSDT", "48000");
      await waitFor("select status as v from positions", "CLOSED");
      await waitFor("select status as v from risk_actions", "DONE");
      assert.deepEqual(fake.orders.map((o) => o.side), ["BUY", "SELL"]);
    } finally {
      await service.stop();
      await fake.close();
      await t.close();
    }
  },
});
