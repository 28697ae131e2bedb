/**
 * A position in the asset the exchange takes fees in (BNB with Binance's "use BNB to pay for
 * fees"): another market's fill pays its commission out of the position's coins, so the
 * exchange holds less than the position records. That fee is already in the ledger (its fee
 * leg) and in the other position's PnL: the write-down (holdings.ts) books no second leg for
 * it and charges it to no second PnL; the ledger matches the exchange. On a paper account, whose
 * balance is the ledger itself, a write-down books no leg either (a leg would lower the paper
 * balance below the written-down position again).
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { logger } from "../../../core/log.ts";
import { listAccounts } from "../../../execution/accounts.ts";
import { writeDownToHoldings } from "../../../execution/holdings.ts";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import {
  count,
  executionSetup,
  insertAlert,
  liveExchange,
  paperExchange,
} from "../../helpers/execution.ts";
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

Deno.test({
  ...serviceTest,
  name: "a fee another market took out of a BNB position is written down once, not booked twice",
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const fake = startFakeExchange({ commissionIn: "BNB", markets: [BNBUSDT] });
    const exchange = await liveExchange(fake);
    try {
      const agent = await executionSetup(db, exchange);
      await insertAlert(db, { symbol: "BNB/USDT", qty: "1", sl: "500" });
      assert.equal((await agent.runOnce()).executed, 1);
      // 0.1 BTC bought, its commission (0.00625 BNB) taken out of the BNB position.
      await insertAlert(db, { qty: "0.1", sl: "49000" });
      assert.equal((await agent.runOnce()).executed, 1);
      const bnb = fake.balance("BNB");
      const [account] = await listAccounts(db);
      const written = await writeDownToHoldings(
        { db, exchange, account, log: logger("test") },
        "BNB/USDT",
      );
      assert.equal(Number(written?.held), bnb, "written down to what is held");
      const [ledger] = await db.query<{ s: string }>(
        "select coalesce(sum(amount), 0)::text as s from transactions where asset = 'BNB'",
      );
      assert.ok(Math.abs(Number(ledger.s) - bnb) < 1e-12, `ledger ${ledger.s}, exchange ${bnb}`);
      const [p] = await db.query<{ pnl: string }>(
        "select realized_pnl::text as pnl from positions where symbol = 'BNB/USDT'",
      );
      assert.equal(Number(p.pnl), 0, "the BTC buy's fee is not charged to the BNB position");
    } finally {
      await exchange.close?.();
      await fake.close();
    }
  },
});

Deno.test({
  ...serviceTest,
  name: "no write-down of a BNB position while an order of another market that pays its fees " +
    "in BNB rests",
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const fake = startFakeExchange({ commissionIn: "BNB", markets: [BNBUSDT] });
    const exchange = await liveExchange(fake);
    try {
      const agent = await executionSetup(db, exchange);
      await insertAlert(db, { symbol: "BNB/USDT", qty: "1", sl: "500" });
      await agent.runOnce();
      await insertAlert(db, { qty: "0.1", sl: "49000" });
      await agent.runOnce();
      // A limit buy of BTC rests: its fill, not recorded yet, takes its fee out of the BNB.
      await insertAlert(db, { qty: "0.1", price: "45000", sl: "44000" });
      await agent.runOnce();
      fake.setPrice("BTCUSDT", "44990");
      const [account] = await listAccounts(db);
      const deps = { db, exchange, account, log: logger("test") };
      assert.equal(await writeDownToHoldings(deps, "BNB/USDT"), undefined);
      // Once that fill is recorded, its fee is in the ledger; the position is written down to
      // what is held, with no adjustment leg.
      await agent.reconcileOnce();
      const written = await writeDownToHoldings(deps, "BNB/USDT");
      assert.equal(Number(written?.held), fake.balance("BNB"));
      assert.equal(await count(db, "select 1 from transactions where kind = 'adjustment'"), 0);
    } finally {
      await exchange.close?.();
      await fake.close();
    }
  },
});

Deno.test({
  ...serviceTest,
  name: "a paper position written down to the paper balance books no leg and is written down once",
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const fake = startFakeExchange();
    const exchange = await paperExchange(db, fake);
    try {
      const agent = await executionSetup(db, exchange);
      await insertAlert(db, { qty: "0.1", sl: "49000" });
      assert.equal((await agent.runOnce()).executed, 1);
      // The paper balance is its ledger: 0.01 BTC taken out of it by hand.
      await db.query(
        `insert into transactions (exchange_id, account, asset, amount, kind, note, account_id)
         values ('binance', 'paper', 'BTC', -0.01, 'withdrawal', 'by hand', 1)`,
      );
      const [account] = await listAccounts(db);
      const deps = { db, exchange, account, log: logger("test") };
      const written = await writeDownToHoldings(deps, "BTC/USDT");
      assert.equal(written?.held, "0.09");
      assert.equal(
        (await exchange.fetchBalance()).BTC?.total,
        "0.09",
        "the paper balance is what the position holds",
      );
      assert.equal(await writeDownToHoldings(deps, "BTC/USDT"), undefined, "once");
    } finally {
      await exchange.close?.();
      await fake.close();
    }
  },
});
