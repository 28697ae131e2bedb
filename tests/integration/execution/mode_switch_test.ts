/**
 * Positions and orders carry no account: a database whose open positions or active orders
 * were made in paper mode must not be traded live (or the other way round). The execution
 * component refuses to start, and `serve` exits 2 with what to do.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { loadConfig } from "../../../core/config.ts";
import { ConfigError } from "../../../core/errors.ts";
import { startService } from "../../../service/service.ts";
import { executionComponent } from "../../../execution/component.ts";
import { seedInstrument } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const liveConfig = (url: string) =>
  loadConfig({
    HTTP_PORT: "0",
    EXCHANGE_MODE: "live",
    BROKER_API_KEY: "mode-test-key",
    BROKER_API_SECRET: "mode-test-secret",
    EXCHANGE_API_URL: url,
    EXCHANGE_TIMEOUT_MS: "2000",
  });

Deno.test({
  name: "serve refuses live mode on a database holding paper positions, and starts without them",
  ...serviceTest,
  fn: async () => {
    const t = await testDb();
    const fake = startFakeExchange();
    try {
      await seedInstrument(t.db, { exchangeId: "binance", symbol: "BTC/USDT" });
      await t.db.query("update exchanges set mode = 'paper' where id = 'binance'");
      await t.db.query(
        `insert into positions (exchange_id, symbol, qty, avg_entry_price)
         values ('binance', 'BTC/USDT', 0.01, 50000)`,
      );
      await assert.rejects(
        startService(liveConfig(fake.url), { db: t.db, factories: [executionComponent] }),
        (e: unknown) =>
          e instanceof ConfigError && /paper/.test(e.message) && /live/.test(e.message) &&
          /1 open position\(s\)/.test(e.message),
      );
      assert.equal(fake.orders.length, 0);
      await t.db.query("update positions set status = 'CLOSED', qty = 0");
      const service = await startService(liveConfig(fake.url), {
        db: t.db,
        factories: [executionComponent],
      });
      await service.stop();
    } finally {
      await fake.close();
      await t.close();
    }
  },
});
