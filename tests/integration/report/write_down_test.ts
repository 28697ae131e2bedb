/**
 * A position written down to what the exchange holds (execution/holdings.ts: an `adjustment`
 * leg for the base that went, its cost out of the realized PnL) and then sold: the report's
 * replay of the fills counts the write-down as the position does — the trade closes, its PnL
 * carries the cost of what went, nothing is left open at the end.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { insertAlert, withLive } from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { buildReport } from "../../../report/store.ts";
import { periodOf } from "../../../report/period.ts";
import { profitText } from "../../../control/views.ts";

const BNBUSDT = {
  symbol: "BNBUSDT",
  base: "BNB",
  quote: "USDT",
  tickSize: "0.01",
  stepSize: "0.001",
  minQty: "0.001",
  minNotional: "5",
  price: "600",
};

Deno.test({
  ...serviceTest,
  name: "a position written down by an adjustment leg is one closed trade in the report, its " +
    "realized PnL the position's",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await insertAlert(db, { qty: "0.1", sl: "49000" });
      assert.equal((await agent.runOnce()).executed, 1);
      // 0.0001 BTC gone without an order the service saw: the exit sells 0.0999.
      fake.setBalance("BTC", 0.0999);
      await insertAlert(db, { action: "sell" });
      for (let i = 0; i < 5; i++) {
        const [open] = await db.query("select 1 from positions where status = 'OPEN'");
        if (!open) break;
        await agent.runOnce();
        await agent.reconcileOnce();
      }
      const [p] = await db.query<{ status: string; pnl: string }>(
        "select status, realized_pnl::text as pnl from positions",
      );
      assert.equal(p.status, "CLOSED");
      const [adj] = await db.query("select 1 from transactions where kind = 'adjustment'");
      assert.ok(adj, "an adjustment leg was booked");

      const now = new Date();
      const { report } = await buildReport(db, {
        kind: "daily",
        at: periodOf("daily", now).start,
        scope: { exchangeId: "binance", account: "main", quote: "USDT" },
        now,
      });
      const s = report.snapshot;
      assert.ok(
        Math.abs(s.metrics.realizedPnl - Number(p.pnl)) < 1e-6,
        `report ${s.metrics.realizedPnl}, position ${p.pnl}`,
      );
      assert.equal(s.metrics.trades, 1, "the round trip is closed");
      assert.ok(Math.abs(s.trades[0].pnl - Number(p.pnl)) < 1e-6);
      assert.deepEqual(s.openPositions, [], "nothing is left open");
      assert.match(
        await profitText(db, now),
        new RegExp(`realized today ${Number(Number(p.pnl).toFixed(2))}`),
      );
    }),
});

Deno.test({
  ...serviceTest,
  name: "a BNB position that paid another market's fees is one closed trade in the report once " +
    "sold, its PnL about the position's",
  fn: () =>
    withLive(
      async ({ db, agent }) => {
        const run = async () => {
          for (let i = 0; i < 5; i++) {
            await agent.runOnce();
            await agent.reconcileOnce();
          }
        };
        await insertAlert(db, { symbol: "BNB/USDT", qty: "1", sl: "500" });
        await run();
        // The BTC round trip pays its commissions out of the BNB position.
        await insertAlert(db, { qty: "0.1", sl: "49000" });
        await run();
        await insertAlert(db, { action: "sell" });
        await run();
        await insertAlert(db, { symbol: "BNB/USDT", action: "sell" });
        await run();
        const positions = await db.query<{ symbol: string; status: string; pnl: string }>(
          "select symbol, status, realized_pnl::text as pnl from positions order by symbol",
        );
        assert.deepEqual(positions.map((p) => p.status), ["CLOSED", "CLOSED"]);
        const bnb = Number(positions.find((p) => p.symbol === "BNB/USDT")!.pnl);

        const now = new Date();
        const { report } = await buildReport(db, {
          kind: "daily",
          at: periodOf("daily", now).start,
          scope: { exchangeId: "binance", account: "main", quote: "USDT" },
          now,
        });
        const s = report.snapshot;
        assert.deepEqual(s.openPositions, [], "nothing is left open");
        assert.equal(s.metrics.trades, 2);
        // The BNB trade's PnL is its position's (the fees it paid for BTC are the BTC trade's),
        // but for the cost of the dust under a step: the position charges its buy's whole fee
        // to what it sold, the replay spreads it over the dust too (0.0072 here).
        const trade = s.trades.find((t) => t.symbol === "BNB/USDT")!;
        assert.ok(Math.abs(trade.pnl - bnb) < 0.01, `report ${trade.pnl}, position ${bnb}`);
      },
      undefined,
      undefined,
      { commissionIn: "BNB", markets: [BNBUSDT] },
    ),
});
