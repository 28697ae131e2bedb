/**
 * Binance takes a buy's commission from the base it receives (without BNB): 0.1 BTC bought
 * leaves 0.0999 BTC. Through the real ccxt client against the fake exchange charging that way,
 * with protective stops on the exchange and a strict balance check on every sell: the position
 * holds what was received, its stop sells no more than that, the exit sells exactly that, and
 * the ledger's legs add up to the exchange's balances.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import {
  executionSetup,
  insertAlert,
  liveExchange,
  protectedConfig,
} from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name: "a buy's commission taken in the base: the position, its stop and its exit are what " +
    "was received, and the ledger matches the exchange",
  fn: async () => {
    const t = await testDb();
    const fake = startFakeExchange({ commissionIn: "received" });
    const exchange = await liveExchange(fake);
    try {
      const agent = await executionSetup(t.db, exchange, {}, protectedConfig);
      await insertAlert(t.db, { qty: "0.1", sl: "49000" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.ok(Math.abs(fake.balance("BTC") - 0.0999) < 1e-12, `BTC ${fake.balance("BTC")}`);
      const [p] = await t.db.query<{ qty: string }>(
        "select qty::text from positions where status = 'OPEN'",
      );
      assert.equal(Number(p.qty), 0.0999, "the position holds what was received");
      await agent.reconcileOnce();
      const stops = fake.orders.filter((o) => o.type === "STOP_LOSS_LIMIT" && o.status === "NEW");
      assert.equal(stops.length, 1, "the stop rests on the exchange");
      assert.ok(Number(stops[0].origQty) <= 0.0999, `stop of ${stops[0].origQty}`);
      // The exit: the stop's cancel first, then a sell of the whole position.
      await insertAlert(t.db, { action: "sell" });
      for (let i = 0; i < 5; i++) {
        await agent.runOnce();
        await agent.reconcileOnce();
        if ((await t.db.query("select 1 from positions where status = 'OPEN'")).length === 0) break;
      }
      assert.equal(
        (await t.db.query("select 1 from positions where status = 'OPEN'")).length,
        0,
        "the position is closed",
      );
      assert.ok(fake.balance("BTC") < 1e-9, `BTC left on the exchange: ${fake.balance("BTC")}`);
      const refused = await t.db.query("select 1 from orders where status = 'REJECTED'");
      assert.equal(refused.length, 0, "no order refused for insufficient balance");
      const legs = await t.db.query<{ asset: string; sum: string }>(
        "select asset, sum(amount)::text as sum from transactions group by asset order by asset",
      );
      const ledger = Object.fromEntries(legs.map((l) => [l.asset, Number(l.sum)]));
      assert.ok(Math.abs(ledger.BTC ?? 0) < 1e-9, `ledger BTC ${ledger.BTC}`);
      // The ledger holds what the service traded: its USDT is the change of the balance.
      assert.ok(
        Math.abs((ledger.USDT ?? 0) - (fake.balance("USDT") - 10_000)) < 1e-6,
        `ledger USDT ${ledger.USDT}, exchange ${fake.balance("USDT") - 10_000}`,
      );
    } finally {
      await exchange.close?.();
      await fake.close();
      await t.close();
    }
  },
});
