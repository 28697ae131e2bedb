/**
 * The default account follows EXCHANGE_ID and EXCHANGE_MODE. A switch of either while it still
 * holds open positions or active orders is refused (serve exits with a configuration error): they
 * would be watched, sold and reconciled through an exchange or mode that does not hold them.
 * With nothing open the switch goes ahead.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../../core/errors.ts";
import { DEFAULT_ACCOUNT_ID, syncDefaultAccount } from "../../../execution/accounts.ts";
import { seedInstrument, testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name: "the default account's exchange or mode is not switched under what it holds",
  fn: async (t) => {
    await using tdb = await testDb();
    const { db } = tdb;
    const account = async () =>
      (await db.query<{ exchange_id: string; mode: string }>(
        "select exchange_id, mode from accounts where id = $1",
        [DEFAULT_ACCOUNT_ID],
      ))[0];
    await syncDefaultAccount(db, { id: "binance", mode: "paper" });
    await seedInstrument(db);

    await t.step(
      "an open position on binance: a switch to another exchange is refused",
      async () => {
        await db.query(
          `insert into positions (account_id, exchange_id, symbol, qty, avg_entry_price, status)
         values ($1, 'binance', 'BTC/USDT', 0.01, 50000, 'OPEN')`,
          [DEFAULT_ACCOUNT_ID],
        );
        await assert.rejects(
          () => syncDefaultAccount(db, { id: "kraken", mode: "paper" }),
          (e: Error) =>
            e instanceof ConfigError &&
            /EXCHANGE_ID is kraken but this database holds 1 open position\(s\) and 0 active order\(s\) on binance from binance in paper mode; close them with EXCHANGE_ID=binance EXCHANGE_MODE=paper first/
              .test(e.message),
        );
        await assert.rejects(
          () => syncDefaultAccount(db, { id: "kraken", mode: "live" }),
          /EXCHANGE_ID is kraken and EXCHANGE_MODE live/,
        );
        await assert.rejects(
          () => syncDefaultAccount(db, { id: "binance", mode: "live" }),
          /EXCHANGE_MODE is live but/,
        );
        assert.deepEqual(await account(), { exchange_id: "binance", mode: "paper" });
        // The same settings again: nothing changes, nothing is refused.
        await syncDefaultAccount(db, { id: "binance", mode: "paper" });
        await db.query("update positions set status = 'CLOSED', qty = 0, closed_at = now()");
      },
    );

    await t.step("an active order alone holds the switch back too", async () => {
      await db.query(
        `insert into orders (account_id, exchange_id, symbol, side, qty, ref_price, status,
                             client_order_id, idempotency_key)
         values ($1, 'binance', 'BTC/USDT', 'buy', 0.01, 50000, 'OPEN', 'c-1', 'k-1')`,
        [DEFAULT_ACCOUNT_ID],
      );
      await assert.rejects(
        () => syncDefaultAccount(db, { id: "kraken", mode: "paper" }),
        /0 open position\(s\) and 1 active order\(s\) on binance/,
      );
      await db.query("update orders set status = 'CANCELED'");
    });

    await t.step("with nothing open the switch goes ahead", async () => {
      await syncDefaultAccount(db, { id: "kraken", mode: "live" });
      assert.deepEqual(await account(), { exchange_id: "kraken", mode: "live" });
    });
  },
});

Deno.test({
  ...serviceTest,
  name: "a switch back to the exchange that holds the default account's positions goes ahead",
  fn: async () => {
    await using tdb = await testDb();
    const { db } = tdb;
    await syncDefaultAccount(db, { id: "binance", mode: "paper" });
    await seedInstrument(db);
    await db.query(
      `insert into positions (account_id, exchange_id, symbol, qty, avg_entry_price, status)
       values ($1, 'binance', 'BTC/USDT', 0.01, 50000, 'OPEN')`,
      [DEFAULT_ACCOUNT_ID],
    );
    await db.query(
      `insert into orders (account_id, exchange_id, symbol, side, qty, ref_price, status,
                           client_order_id, idempotency_key)
       values ($1, 'binance', 'BTC/USDT', 'buy', 0.01, 50000, 'OPEN', 'c-1', 'k-1')`,
      [DEFAULT_ACCOUNT_ID],
    );
    // An older version let EXCHANGE_ID change under them (or migration 0016 took another
    // exchange as the default account's): the account names kraken, what it holds is on binance.
    await db.query("update accounts set exchange_id = 'kraken' where id = $1", [
      DEFAULT_ACCOUNT_ID,
    ]);
    // Started on binance again: what it holds is on that exchange, in that mode.
    await syncDefaultAccount(db, { id: "binance", mode: "paper" });
    const [a] = await db.query<{ exchange_id: string; mode: string }>(
      "select exchange_id, mode from accounts where id = $1",
      [DEFAULT_ACCOUNT_ID],
    );
    assert.deepEqual(a, { exchange_id: "binance", mode: "paper" });
    // A switch away from it, or of its mode, is still refused.
    await assert.rejects(
      () => syncDefaultAccount(db, { id: "kraken", mode: "paper" }),
      /EXCHANGE_ID is kraken but this database holds 1 open position\(s\) and 1 active order\(s\) on binance/,
    );
    await assert.rejects(
      () => syncDefaultAccount(db, { id: "binance", mode: "live" }),
      /EXCHANGE_MODE is live but/,
    );
  },
});
