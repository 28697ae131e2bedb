/**
 * What an account is worth for its protections (accountEquity): its quote balance and its open
 * positions of that quote at their tickers, on the exchange the balance is read from. Through
 * the real ccxt client against the fake Binance; the real PostgreSQL when TEST_DATABASE_URL is
 * set, PGlite otherwise.
 */
import assert from "node:assert/strict";
import { accountById } from "../../../execution/accounts.ts";
import { accountEquity } from "../../../execution/process.ts";
import { insertAlert, testConfig, withLive } from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name: "an account's equity counts its positions on the exchange read, not one left on another",
  fn: () =>
    withLive(
      async ({ db, agent, exchange }) => {
        await insertAlert(db, { qty: "0.01" });
        assert.equal((await agent.runOnce()).executed, 1);
        const account = (await accountById(db, 1))!;
        const ctx = { db, exchange, account };
        // 10,000 USDT less 500.5 spent (fee included), plus 0.01 BTC at 50,000.
        const held = await accountEquity(ctx, new Map(), "USDT");
        assert.ok(Math.abs(held.equity - 9_999.5) < 1e-6, String(held.equity));
        // The account traded on another exchange before: a position still open there is not on
        // this exchange's balance, though the account holds that asset here too.
        await db.query("insert into exchanges (id) values ('kraken') on conflict do nothing");
        await db.query(
          `insert into positions (exchange_id, symbol, qty, avg_entry_price, account_id)
         values ('kraken', 'ETH/USDT', 2, 3000, 1)`,
        );
        const [eth] = await db.query<{ n: number }>(
          "select count(*)::int as n from positions where exchange_id = 'kraken'",
        );
        assert.equal(eth.n, 1);
        const after = await accountEquity(ctx, new Map(), "USDT");
        assert.ok(Math.abs(after.equity - held.equity) < 1e-6, String(after.equity));
      },
      undefined,
      testConfig,
      { balances: { USDT: "10000", ETH: "2" } },
    ),
});
