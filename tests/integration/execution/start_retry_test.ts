/**
 * Execution starts in the background so `serve` is ready at once. A failed start is retried
 * with backoff and raised CRITICAL once; a configuration error is not retried.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { count, insertAlert } from "../../helpers/execution.ts";
import { loadConfig } from "../../../core/config.ts";
import { startService } from "../../../service/service.ts";
import { executionComponent } from "../../../execution/component.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;

const config = (url: string, id = "binance") =>
  loadConfig({
    HTTP_PORT: "0",
    EXCHANGE_ID: id,
    EXCHANGE_MODE: "live",
    BROKER_API_KEY: "retry-test-key",
    BROKER_API_SECRET: "retry-test-secret",
    EXCHANGE_API_URL: url,
    EXCHANGE_TIMEOUT_MS: "2000",
  });

async function waitFor(check: () => Promise<boolean>) {
  for (let i = 0; i < 300 && !(await check()); i++) await new Promise((r) => setTimeout(r, 50));
}

Deno.test({
  ...opts,
  name: "a failed execution start is retried, raised CRITICAL once, and then executes",
  fn: async () => {
    const t = await testDb();
    await t.db.query("insert into telegram_chats (chat_id, min_severity) values (42, 'INFO')");
    const fake = startFakeExchange();
    // The start-up recovery reads inbound_alerts: without the table every start fails for
    // real until it is back.
    await t.db.exec("alter table inbound_alerts rename to inbound_alerts_away");
    const service = await startService(config(fake.url), {
      db: t.db,
      factories: [executionComponent],
    });
    try {
      const failed = () =>
        count(t.db, "select 1 from notification_outbox where kind = 'execution_start_failed'");
      await waitFor(async () => (await failed()) > 0);
      await t.db.exec("alter table inbound_alerts_away rename to inbound_alerts");
      const id = await insertAlert(t.db, { idempotencyKey: "retry-1", qty: "0.001" });
      service.ctx.queues.decisions.push(id);
      await waitFor(async () =>
        (await count(t.db, "select 1 from inbound_alerts where status = 'EXECUTED'")) === 1
      );
      assert.equal(
        fake.orders.filter((o) => o.side === "BUY").length,
        1,
        "execution started after the failures",
      );
      assert.equal(
        await count(
          t.db,
          "select 1 from notification_outbox where kind = 'execution_start_failed' and severity = 'CRITICAL'",
        ),
        1,
      );
    } finally {
      await service.stop();
      await fake.close();
      await t.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "an execution start refused by the configuration is raised CRITICAL with what to do",
  fn: async () => {
    const t = await testDb();
    await t.db.query("insert into telegram_chats (chat_id, min_severity) values (42, 'INFO')");
    const fake = startFakeExchange();
    const service = await startService(config(fake.url, "nosuchexchange"), {
      db: t.db,
      factories: [executionComponent],
    });
    try {
      const raised = () =>
        count(t.db, "select 1 from notification_outbox where kind = 'execution_start_failed'");
      await waitFor(async () => (await raised()) > 0);
      const [n] = await t.db.query<{ text: string }>(
        "select text from notification_outbox where kind = 'execution_start_failed'",
      );
      assert.match(n.text, /EXCHANGE_ID "nosuchexchange"/);
      assert.match(n.text, /restart/);
    } finally {
      await service.stop();
      await fake.close();
      await t.close();
    }
  },
});
