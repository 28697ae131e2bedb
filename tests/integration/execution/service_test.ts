/**
 * Execution inside the running service: the component syncs the markets, wakes on the
 * decisions queue, and orders reach the fake exchange through ccxt with EXCHANGE_API_URL.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { insertAlert } from "../../helpers/execution.ts";
import { loadConfig } from "../../../core/config.ts";
import { startService } from "../../../service/service.ts";
import type { Db } from "../../../db/db.ts";
import { executionComponent } from "../../../execution/component.ts";
import { riskComponent } from "../../../risk/component.ts";
import { serviceTest, until } from "../../helpers/fixtures.ts";

/** `serve`'s execution part, live mode, on the fake exchange; closed after `fn`. */
async function withLiveService(
  fn: (
    ctx: {
      db: Db;
      fake: ReturnType<typeof startFakeExchange>;
      service: Awaited<ReturnType<typeof startService>>;
      /** Polls `sql` (one column `v`) until it gives `want`; a generous bound, not a timing check. */
      waitFor: (sql: string, want: string, params?: unknown[]) => Promise<void>;
    },
  ) => Promise<void>,
  env: Record<string, string> = {},
) {
  const t = await testDb();
  const fake = startFakeExchange();
  const config = loadConfig({
    HTTP_PORT: "0",
    EXCHANGE_MODE: "live",
    BROKER_API_KEY: "service-test-key",
    BROKER_API_SECRET: "service-test-secret",
    EXCHANGE_API_URL: fake.url,
    EXCHANGE_TIMEOUT_MS: "2000",
    ...env,
  });
  const service = await startService(config, {
    db: t.db,
    factories: [executionComponent, riskComponent],
  });
  const waitFor = async (sql: string, want: string, params: unknown[] = []) => {
    let got: string | undefined;
    // The risk loop checks every 5 s: 20 s is room enough.
    for (let i = 0; i < 400 && got !== want; i++) {
      await new Promise((r) => setTimeout(r, 50));
      got = (await t.db.query<{ v: string }>(sql, params))[0]?.v;
    }
    assert.equal(got, want);
  };
  try {
    await fn({ db: t.db, fake, service, waitFor });
  } finally {
    await service.stop();
    await fake.close();
    await t.close();
  }
}

Deno.test({
  name: "serve executes a pushed alert on the exchange named by EXCHANGE_API_URL",
  ...serviceTest,
  fn: () =>
    withLiveService(async ({ db, fake, service, waitFor }) => {
      const id = await insertAlert(db, { idempotencyKey: "svc-1", qty: "0.001" });
      service.ctx.queues.decisions.push(id);
      await waitFor("select status as v from inbound_alerts where id = $1", "EXECUTED", [id]);
      // The entry (its protective stop may follow at once).
      assert.equal(fake.orders.filter((o) => o.side === "BUY").length, 1);
      assert.equal(fake.requests["GET exchangeInfo"], 1);
    }),
});

Deno.test({
  name:
    "serve rests the stop on the exchange; a gap past its limit is sold by the software stop, after the cancel",
  ...serviceTest,
  fn: () =>
    withLiveService(async ({ fake, service, waitFor, db }) => {
      const id = await insertAlert(db, { idempotencyKey: "svc-sl", qty: "0.001", sl: "49000" });
      service.ctx.queues.decisions.push(id);
      await waitFor("select status as v from positions", "OPEN");
      await waitFor("select status as v from orders where purpose = 'stop_loss'", "OPEN");
      // 48000 triggers the stop (49000) but is below its limit (48755): it rests unfilled, and
      // the software stop takes over — it cancels the stop first, then sells at market.
      fake.setPrice("BTCUSDT", "48000");
      await waitFor("select status as v from positions", "CLOSED");
      await waitFor("select status as v from risk_actions where alert_id is not null", "DONE");
      assert.deepEqual(fake.orders.map((o) => [o.side, o.type, o.status]), [
        ["BUY", "MARKET", "FILLED"],
        ["SELL", "STOP_LOSS_LIMIT", "CANCELED"],
        ["SELL", "MARKET", "FILLED"],
      ]);
    }),
});

/** Milliseconds from the Risk agent's exit alert to its market sell on the exchange. */
const exitDelayMs = async (db: Db) =>
  (await db.query<{ ms: number }>(
    `select (extract(epoch from (select min(created_at) from orders
                                  where side = 'sell' and type = 'market')
                             - (select received_at from inbound_alerts where source = 'risk'))
             * 1000)::float8 as ms`,
  ))[0].ms;

Deno.test({
  name: "serve sells a software stop-loss beside a take-profit limit within moments of the " +
    "limit's cancel, not a reconcile pass later",
  ...serviceTest,
  fn: () =>
    withLiveService(async ({ fake, service, waitFor, db }) => {
      const entry = await insertAlert(db, {
        idempotencyKey: "svc-tp-in",
        qty: "0.01",
        sl: "49000",
      });
      service.ctx.queues.decisions.push(entry);
      await waitFor("select status as v from positions", "OPEN");
      const target = await insertAlert(db, {
        idempotencyKey: "svc-tp-out",
        action: "sell",
        qty: "0.005",
        price: "60000",
      });
      service.ctx.queues.decisions.push(target);
      await waitFor("select status as v from orders where type = 'limit'", "OPEN");
      // Right after a reconcile pass (it looks the resting limit up), the price falls through
      // the stop: the Risk agent hands the stop-loss over within its 5 s, well before the
      // next pass 10 s on.
      const looked = fake.requests["GET order"] ?? 0;
      await until("a reconcile pass", () => (fake.requests["GET order"] ?? 0) > looked);
      fake.setPrice("BTCUSDT", "48500");
      await waitFor("select status as v from positions", "CLOSED");
      const limit = fake.orders.find((o) => o.type === "LIMIT")!;
      assert.equal(limit.status, "CANCELED");
      const sold = fake.orders.filter((o) => o.side === "SELL" && o.type === "MARKET");
      assert.deepEqual(sold.map((o) => Number(o.origQty)), [0.01], "all of it, once");
      const ms = await exitDelayMs(db);
      assert.ok(ms < 3_000, `sold ${Math.round(ms)} ms after the stop-loss was handed over`);
    }, { EXCHANGE_STOPS: "false" }),
});
