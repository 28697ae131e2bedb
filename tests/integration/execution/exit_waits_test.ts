/**
 * An exit signal that arrives while the entry it exits is still on its way: with nothing held,
 * an answer pending or lost (NEW, UNKNOWN) is waited for, and a resting limit buy is cancelled
 * first by an exit of the whole position, so the exit is never refused for a position about to
 * exist and no entry fills after its exit. With a position held, the exit sells at once.
 * Through the real ccxt client against the fake Binance.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { alertOf, insertAlert, withLive } from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name: "an exit waits for an entry whose answer was lost, then sells what it bought",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      fake.fail("hang"); // the exchange books the buy; its answer never comes
      await insertAlert(db, { qty: "0.002", sl: "49000" }, "pine");
      assert.equal((await agent.runOnce()).unknown, 1);
      const sell = await insertAlert(db, { action: "sell" }, "pine");
      assert.equal((await agent.runOnce()).deferred, 1);
      assert.equal((await alertOf(db, sell)).status, "RECEIVED", "the exit waits");
      await agent.reconcileOnce(); // the buy is found FILLED
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, sell)).status, "EXECUTED");
      const open = await db.query("select 1 from positions where status = 'OPEN'");
      assert.equal(open.length, 0);
      const sold = fake.orders.filter((o) => o.side === "SELL");
      assert.deepEqual(sold.map((o) => Number(o.origQty)), [0.002], "sold once, all of it");
    }, 300),
});

Deno.test({
  ...serviceTest,
  name: "an exit of the whole position cancels a resting limit entry first; it never fills after",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      // A limit buy below the market rests on the book.
      await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
      await agent.runOnce();
      const buy = fake.orders.find((o) => o.side === "BUY")!;
      assert.equal(buy.status, "NEW");
      const sell = await insertAlert(db, { action: "sell" });
      assert.equal((await agent.runOnce()).deferred, 1);
      const [request] = await db.query<{ requested_by: string }>(
        "select requested_by from cancel_requests",
      );
      assert.equal(request.requested_by, `exit:alert ${sell}`);
      await agent.reconcileOnce(); // the cancel is sent, then the buy settled CANCELED
      await agent.reconcileOnce();
      assert.equal(buy.status, "CANCELED");
      await agent.runOnce();
      const exit = await alertOf(db, sell);
      assert.equal(exit.status, "REJECTED");
      assert.match(exit.error ?? "", /no open BTC\/USDT position to sell/);
      // The price reaches the old limit: nothing is bought any more.
      fake.setPrice("BTCUSDT", "44900");
      await agent.reconcileOnce();
      const open = await db.query("select 1 from positions where status = 'OPEN'");
      assert.equal(open.length, 0);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a partial sell (with qty) leaves a resting limit entry alone",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await insertAlert(db, { qty: "0.002", sl: "49000" });
      await agent.runOnce();
      await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
      await agent.runOnce();
      const sell = await insertAlert(db, { action: "sell", qty: "0.001" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, sell)).status, "EXECUTED");
      const limitBuy = fake.orders.find((o) => o.side === "BUY" && o.type === "LIMIT")!;
      assert.equal(limitBuy.status, "NEW");
      assert.equal((await db.query("select 1 from cancel_requests")).length, 0);
    }),
});

Deno.test({
  ...serviceTest,
  name: "with a position held, an exit sells at once and has a resting limit buy cancelled",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await insertAlert(db, { qty: "0.002", sl: "49000" });
      await agent.runOnce();
      // A second, resting buy of the symbol (an add below the market).
      await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
      await agent.runOnce();
      const sell = await insertAlert(db, { action: "sell" });
      assert.equal((await agent.runOnce()).executed, 1, "the exit does not wait for the buy");
      assert.equal((await alertOf(db, sell)).status, "EXECUTED");
      const sold = fake.orders.filter((o) => o.side === "SELL");
      assert.deepEqual(sold.map((o) => Number(o.origQty)), [0.002]);
      await agent.reconcileOnce();
      await agent.reconcileOnce();
      const add = fake.orders.find((o) => o.side === "BUY" && o.type === "LIMIT")!;
      assert.equal(add.status, "CANCELED", "no entry fills after the exit");
    }),
});

Deno.test({
  ...serviceTest,
  name: "an exit whose note of the buys beside it cannot be written still sells at once",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await insertAlert(db, { qty: "0.002", sl: "49000" });
      await agent.runOnce();
      await insertAlert(db, { qty: "0.002", price: "45000", sl: "44000" });
      await agent.runOnce();
      // What the exit's sell counted of the resting buy (cancel_requests.exit_sell_id) cannot be
      // written: that bookkeeping must not hold the sale up.
      await db.query(`create function refuse_exit_note() returns trigger language plpgsql as $$
        begin
          if new.exit_sell_id is not null then raise exception 'note refused'; end if;
          return new;
        end $$`);
      await db.query(`create trigger refuse_exit_note before update on cancel_requests
        for each row execute function refuse_exit_note()`);
      const sell = await insertAlert(db, { action: "sell" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, sell)).status, "EXECUTED");
      assert.deepEqual(
        fake.orders.filter((o) => o.side === "SELL").map((o) => Number(o.origQty)),
        [0.002],
        "the position is sold in the same pass",
      );
    }),
});
