/**
 * One realized PnL everywhere it is shown: a paper round trip (a buy, a take-profit slice, an
 * add-on buy, the rest sold) through the real paper broker and Execution agent, then what the
 * positions say (`positions`, /profit, /daily, the sell's fill message) against the ledger's
 * own sums and the daily report built over it. Both fees are costs of a round trip.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { executionSetup, insertAlert, paperExchange } from "../../helpers/execution.ts";
import { buildReport } from "../../../report/store.ts";
import { periodOf } from "../../../report/period.ts";
import { dailyText, profitText } from "../../../control/views.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name: "a closed position's realized PnL is the ledger's and the report's: the entry's fee is " +
    "a cost too",
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const fake = startFakeExchange();
    const exchange = await paperExchange(db, fake);
    try {
      const agent = await executionSetup(db, exchange);
      const step = async (price: string, d: Parameters<typeof insertAlert>[1]) => {
        fake.setPrice("BTCUSDT", price);
        await insertAlert(db, d);
        assert.equal((await agent.runOnce()).executed, 1);
      };
      await step("50000", { qty: "0.02", sl: "49000" });
      await step("51000", { action: "sell", qty: "0.01" });
      await step("50500", { qty: "0.01", sl: "49000" });
      await step("52000", { action: "sell" });
    } finally {
      await exchange.close?.();
      await fake.close();
    }
    const [p] = await db.query<{ status: string; pnl: string }>(
      "select status, realized_pnl::text as pnl from positions",
    );
    assert.equal(p.status, "CLOSED");
    // The round trip's cash: every USDT leg of its fills (trades and both sides' fees).
    const [ledger] = await db.query<{ pnl: string }>(
      `select sum(amount)::text as pnl from transactions
        where account = 'paper' and asset = 'USDT' and kind in ('trade', 'fee')`,
    );
    // Bought 0.02 at 50000 and 0.01 at 50500 (fees 1 and 0.505), sold 0.01 at 51000 and 0.02 at
    // 52000 (fees 0.51 and 1.04): 510 + 1040 − 1000 − 505 − 3.055 = 41.945.
    assert.equal(Number(ledger.pnl), 41.945);
    assert.equal(Number(p.pnl), 41.945, "the position's realized PnL is the ledger's");

    const day = periodOf("daily", new Date());
    const report = await buildReport(db, {
      kind: "daily",
      at: day.start,
      scope: { exchangeId: "binance", account: "paper", quote: "USDT" },
      now: new Date(),
    });
    assert.ok(Math.abs(report.report.snapshot.metrics.realizedPnl - 41.945) < 1e-8);

    assert.match(await profitText(db, new Date()), /realized today 41\.9[45]/);
    assert.match(await dailyText(db, new Date()), /41\.9[45]/);
    const [sold] = await db.query<{ text: string }>(
      `select text from notification_outbox where kind = 'order_filled' and text like 'Sold 0.02%'`,
    );
    // The last sell's part: 0.02 × (52000 − 50250 average) less its fee 1.04 and the entry fees
    // the 0.02 it sold still carried (0.5 of the first buy's 1, all of the second's 0.505).
    assert.match(sold.text, /PnL \+32\.9[56] USDT/);
  },
});
