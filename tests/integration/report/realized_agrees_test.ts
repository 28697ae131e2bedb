/**
 * One realized PnL everywhere it is shown: a paper round trip (a buy, a take-profit slice, an
 * add-on buy, the rest sold) through the real paper broker and Execution agent, then what the
 * positions say (`positions`, /profit, /daily, the sell's fill message) against the ledger's
 * own sums and the daily report built over it. Both fees are costs of a round trip.
 */
import assert from "node:assert/strict";
import { seedInstrument, testDb } from "../../helpers/db.ts";
import type { Db } from "../../../db/db.ts";
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

Deno.test({
  ...serviceTest,
  name: "a fill booked after its day's report is in the next day's trades, not in none",
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    await seedInstrument(db);
    const dayOne = periodOf("daily", new Date(Date.now() - 2 * 86_400_000));
    const dayTwo = periodOf("daily", dayOne.end);
    const scope = { exchangeId: "binance", account: "paper", quote: "USDT" };
    const at = (day: typeof dayOne, minutes: number) =>
      new Date(day.start.getTime() + minutes * 60_000);
    await fill(db, {
      side: "buy",
      price: 50000,
      executed: at(dayOne, 600),
      booked: at(dayOne, 600),
    });
    // The day's report is built just after midnight, while serve was down (or before its
    // reconciler got there): the sell that filled on the exchange at 23:59 is not booked yet.
    const first = await buildReport(db, {
      kind: "daily",
      at: dayOne.start,
      scope,
      now: at(dayTwo, 1),
    });
    assert.equal(first.report.snapshot.metrics.trades, 0);
    // At 00:20 the reconciler books it, with the exchange's time of the trade.
    await fill(db, {
      side: "sell",
      price: 51000,
      executed: at(dayOne, 1439),
      booked: at(dayTwo, 20),
    });
    const second = await buildReport(db, {
      kind: "daily",
      at: dayTwo.start,
      scope,
      now: new Date(dayTwo.end.getTime() + 60_000),
    });
    // 0.01 × 1000 less both fees (0.5 and 0.51): in the day its cash came into the ledger.
    const m = second.report.snapshot.metrics;
    assert.equal(m.trades, 1, "the round trip is in a report");
    assert.ok(Math.abs(m.realizedPnl - 8.99) < 1e-8, `realized ${m.realizedPnl}`);
    // 1000 deposited, less 500.5 for the buy, plus 509.49 for the sell: all cash at the end.
    assert.ok(Math.abs(m.endEquity - 1008.99) < 1e-6, `end equity ${m.endEquity}`);
  },
});

/** One fill of 0.01 BTC/USDT (fee 0.1 % in USDT), its execution and ledger legs at `booked`. */
async function fill(
  db: Db,
  f: { side: "buy" | "sell"; price: number; executed: Date; booked: Date },
) {
  const qty = 0.01;
  const fee = qty * f.price * 0.001;
  if (f.side === "buy") {
    await db.query(
      `insert into transactions (exchange_id, account, asset, amount, kind, note, created_at)
       values ('binance', 'paper', 'USDT', 1000, 'deposit', 'initial paper balance', $1)`,
      [new Date(f.booked.getTime() - 60_000)],
    );
  }
  const key = `late-${f.side}`;
  const [o] = await db.query<{ id: number }>(
    `insert into orders (exchange_id, symbol, side, qty, ref_price, status, filled_qty,
                         avg_fill_price, idempotency_key, client_order_id, created_at)
     values ('binance', 'BTC/USDT', $1, $2, $3, 'FILLED', $2, $3, $4, $4, $5) returning id`,
    [f.side, qty, f.price, key, f.executed],
  );
  const [e] = await db.query<{ id: number }>(
    `insert into executions (order_id, exchange_trade_id, qty, price, fee, fee_currency,
                             executed_at, created_at)
     values ($1, $2, $3, $4, $5, 'USDT', $6, $7) returning id`,
    [o.id, `t-${key}`, qty, f.price, fee, f.executed, f.booked],
  );
  const sign = f.side === "buy" ? 1 : -1;
  for (
    const [asset, amount, kind] of [
      ["BTC", sign * qty, "trade"],
      ["USDT", -sign * qty * f.price, "trade"],
      ["USDT", -fee, "fee"],
    ] as const
  ) {
    await db.query(
      `insert into transactions (exchange_id, account, asset, amount, kind, order_id,
                                 execution_id, created_at)
       values ('binance', 'paper', $1, $2, $3, $4, $5, $6)`,
      [asset, amount, kind, o.id, e.id, f.booked],
    );
  }
}
