/**
 * Binance with "use BNB to pay for fees": a fill's commission is taken in BNB, neither the
 * market's base nor its quote. Through the real ccxt client against the fake exchange charging
 * that way, a BTC/USDT round trip: the position charges both fees at the BNB/USDT price known
 * at each fill (the latest closed candle), so `positions.realized_pnl`, /profit, /daily and the
 * sell's message agree with the daily report; with no BNB/USDT price known, they say the PnL
 * excludes those fees instead of counting them 0 without a word.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import type { Db } from "../../../db/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { executionSetup, insertAlert, liveExchange } from "../../helpers/execution.ts";
import { buildReport } from "../../../report/store.ts";
import { periodOf } from "../../../report/period.ts";
import { dailyText, profitText } from "../../../control/views.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

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

/** Buys 0.1 BTC at 50000 and sells it at 51000, both fees in BNB; returns the fake. */
async function roundTrip(db: Db, before?: () => Promise<void>) {
  const fake = startFakeExchange({
    commissionIn: "BNB",
    balances: { USDT: "10000", BNB: "1" },
    markets: [BNBUSDT],
  });
  const exchange = await liveExchange(fake);
  try {
    const agent = await executionSetup(db, exchange);
    await before?.();
    await insertAlert(db, { qty: "0.1", sl: "49000" });
    assert.equal((await agent.runOnce()).executed, 1);
    fake.setPrice("BTCUSDT", "51000");
    await insertAlert(db, { action: "sell" });
    assert.equal((await agent.runOnce()).executed, 1);
    return { trades: [...fake.trades], bnb: fake.balance("BNB") };
  } finally {
    await exchange.close?.();
    await fake.close();
  }
}

const report = async (db: Db) =>
  (await buildReport(db, {
    kind: "daily",
    at: periodOf("daily", new Date()).start,
    scope: { exchangeId: "binance", account: "main", quote: "USDT" },
    now: new Date(),
  })).report.snapshot;

const message = async (db: Db, start: string) =>
  (await db.query<{ text: string }>(
    `select text from notification_outbox where kind = 'order_filled' and text like $1`,
    [`${start}%`],
  ))[0]?.text ?? "";

Deno.test({
  ...serviceTest,
  name: "fees paid in BNB are charged to the position at the BNB/USDT price known at the fill, " +
    "as the report values them",
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const { trades, bnb } = await roundTrip(db, async () => {
      // A closed BNB/USDT minute candle (ending two minutes ago) at 600.
      await db.query(
        `insert into candles (exchange_id, symbol, timeframe, ts, open, high, low, close)
         values ('binance', 'BNB/USDT', '1m', $1, 600, 600, 600, 600)`,
        [new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3 * 60_000)],
      );
    });
    assert.deepEqual(trades.map((x) => x.commissionAsset), ["BNB", "BNB"]);
    // 0.075 % of 5000 and of 5100 in BNB at 600: 0.00625 and 0.006375 BNB, 3.75 and 3.825 USDT.
    assert.deepEqual(trades.map((x) => Number(x.commission)), [0.00625, 0.006375]);
    assert.ok(Math.abs(bnb - (1 - 0.012625)) < 1e-12, `BNB left ${bnb}`);
    const [p] = await db.query<{ status: string; pnl: string; fees: string }>(
      "select status, realized_pnl::text as pnl, fees::text from positions",
    );
    assert.equal(p.status, "CLOSED");
    const snapshot = await report(db);
    // 0.1 × (51000 − 50000) less 3.75 and 3.825.
    assert.ok(Math.abs(snapshot.metrics.realizedPnl - 92.425) < 1e-8, "the report's PnL");
    assert.equal(Number(p.pnl), 92.425, "the position is charged both BNB fees, as the report");
    assert.equal(Number(p.fees), 7.575);
    assert.ok(Math.abs(snapshot.metrics.fees - 7.575) < 1e-8, `fees ${snapshot.metrics.fees}`);
    const [marked] = await db.query<{ unpriced: string }>(
      "select array_to_string(unpriced_fee_assets, ',') as unpriced from positions",
    );
    assert.equal(marked.unpriced, "");
    const executions = await db.query<{ fee_quote: string }>(
      "select fee_quote::text from executions order by id",
    );
    assert.deepEqual(executions.map((e) => Number(e.fee_quote)), [3.75, 3.825]);
    // The ledger books the fee legs in BNB, as the exchange took them.
    const [legs] = await db.query<{ sum: string }>(
      "select sum(amount)::text as sum from transactions where asset = 'BNB' and kind = 'fee'",
    );
    assert.equal(Number(legs.sum), -0.012625);

    const profit = await profitText(db, new Date());
    assert.match(profit, /realized today 92\.4[23], .*\(1 closed\)/);
    assert.doesNotMatch(profit, /exclude/);
    assert.match(await dailyText(db, new Date()), /92\.4[23] USDT \(default\)/);
    assert.match(await message(db, "Bought"), /fee 0\.00625 BNB ≈ 3\.75 USDT; stop 49000/);
    const sold = await message(db, "Sold");
    assert.match(sold, /PnL \+92\.4[23] USDT \(\+2 %\), fee 0\.006375 BNB ≈ 3\.825 USDT/);
  },
});

Deno.test({
  ...serviceTest,
  name: "fees paid in BNB with no BNB/USDT price known at the fill: the PnL is marked as " +
    "excluding them",
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    // A BNB/USDT candle still open at the fill (4 h, started an hour ago) is no price yet.
    await roundTrip(db, async () => {
      await db.query(
        `insert into candles (exchange_id, symbol, timeframe, ts, open, high, low, close)
         values ('binance', 'BNB/USDT', '4h', $1, 600, 600, 600, 600)`,
        [new Date(Date.now() - 3_600_000)],
      );
    });
    const [p] = await db.query<{ pnl: string; fees: string }>(
      "select realized_pnl::text as pnl, fees::text from positions",
    );
    assert.equal(Number(p.pnl), 100, "the price difference alone");
    assert.equal(Number(p.fees), 0);
    const sold = await message(db, "Sold");
    assert.match(
      sold,
      /PnL \+100 USDT \(\+2 %\) excluding the fees in BNB \(no price in USDT known at their fill\), fee 0\.006375 BNB,/,
    );
    assert.match(
      await message(db, "Bought"),
      /fee 0\.00625 BNB \(no BNB\/USDT price known at the fill: the position's PnL excludes it\)/,
    );
    assert.match(
      await profitText(db, new Date()),
      /all 100 \(1 closed; 1 of them excludes fees in BNB \(no price known at the fill\)\)/,
    );
    assert.match(
      await dailyText(db, new Date()),
      /100 USDT \(default; 1 of them excludes fees in BNB/,
    );
    const [marked] = await db.query<{ unpriced: string }>(
      "select array_to_string(unpriced_fee_assets, ',') as unpriced from positions",
    );
    assert.equal(marked.unpriced, "BNB", "the position knows its PnL excludes the BNB fees");
    const executions = await db.query<{ fee_quote: string | null }>(
      "select fee_quote::text from executions order by id",
    );
    assert.deepEqual(executions.map((e) => e.fee_quote), [null, null]);
    // The report had no price either: it agrees, and names BNB as unpriced.
    const snapshot = await report(db);
    assert.ok(Math.abs(snapshot.metrics.realizedPnl - 100) < 1e-8);
    assert.ok(snapshot.unpriced.includes("BNB"));
  },
});
