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
