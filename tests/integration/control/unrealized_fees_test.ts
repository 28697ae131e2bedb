/**
 * Unrealized PnL in /positions, /status and /profit is what selling at the last price would
 * realize before that sell's own fee: the buys' fees the position still carries are counted, as
 * a sell's realized PnL charges them. A paper round trip through the real broker and agent.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { executionSetup, insertAlert, paperExchange } from "../../helpers/execution.ts";
import { positionsText, profitText } from "../../../control/views.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name: "unrealized PnL counts the entry fees the position carries, and agrees with the sell",
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const fake = startFakeExchange();
    const exchange = await paperExchange(db, fake);
    const at = (last: number) => ({ price: () => Promise.resolve(last) });
    const realized = async () =>
      Number((await db.query<{ r: string }>("select realized_pnl::text as r from positions"))[0].r);
    try {
      const agent = await executionSetup(db, exchange);
      const step = async (price: string, d: Parameters<typeof insertAlert>[1]) => {
        fake.setPrice("BTCUSDT", price);
        await insertAlert(db, d);
        assert.equal((await agent.runOnce()).executed, 1);
      };
      // 0.02 bought at 50000, fee 1 USDT (0.1 %): at the entry price the position is 1 down.
      await step("50000", { qty: "0.02", sl: "49000" });
      assert.match(await positionsText(db, at(50000)), /last 50000 PnL -1 \(-0\.1 %\)/);
      // Half sold at 51000: the 0.01 held carries 0.5 of the entry fee.
      await step("51000", { action: "sell", qty: "0.01" });
      assert.match(await positionsText(db, at(51000)), /last 51000 PnL 9\.5 \(1\.9 %\)/);
      assert.match(await profitText(db, new Date(), at(51000)), /unrealized 9\.5 on 1 of 1/);
      // Selling the rest at 52000 realizes the unrealized PnL shown, less the sell's fee (0.52).
      const shown = Number(
        /PnL (-?[\d.]+)/.exec(await positionsText(db, at(52000)))![1],
      );
      const before = await realized();
      await step("52000", { action: "sell" });
      assert.ok(Math.abs((await realized()) - before - (shown - 0.52)) < 1e-9);
    } finally {
      await exchange.close?.();
      await fake.close();
    }
  },
});
