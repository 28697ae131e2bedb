/**
 * A limit order that rests while many other trades happen: its fills are fetched by its own
 * exchange order id, not from a page of the account's trades since it was created (Binance
 * returns at most 500 of those).
 */
import assert from "node:assert/strict";
import { insertAlert, withLive } from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;

Deno.test({
  ...opts,
  name: "the fill of a slow limit order is found after more than 500 other trades",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await insertAlert(db, { qty: "0.001", price: "49000", sl: "45000" });
      await agent.runOnce();
      // 600 trades of other orders (another client on the same account, say).
      const t0 = Date.now();
      for (let i = 0; i < 600; i++) {
        fake.trades.push({
          symbol: "BTCUSDT",
          id: 100_000 + i,
          orderId: 900_000 + i,
          price: "50000",
          qty: "0.001",
          quoteQty: "50",
          commission: "0.05",
          commissionAsset: "USDT",
          time: t0 + i,
          isBuyer: true,
        });
      }
      fake.setPrice("BTCUSDT", "48900");
      await agent.reconcileOnce();
      const [o] = await db.query<{ status: string; filled_qty: string }>(
        "select status, filled_qty::text from orders",
      );
      assert.deepEqual([o.status, Number(o.filled_qty)], ["FILLED", 0.001]);
    }),
});
