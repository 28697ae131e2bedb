/**
 * Paper mode runs the live code path: the same decisions give the same rows whether they are
 * executed against the fake Binance (live mode, real ccxt client) or by the paper broker over
 * the same market data. Only ids, timestamps and the ledger account differ.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import {
  executionSetup,
  insertAlert,
  liveExchange,
  paperExchange,
} from "../../helpers/execution.ts";
import type { Db } from "../../../db/db.ts";
import type { Exchange } from "../../../exchange/port.ts";
import { RejectedError } from "../../../core/errors.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { syncMarkets } from "../../../execution/markets.ts";

async function scenario(db: Db, exchange: Exchange, fake: ReturnType<typeof startFakeExchange>) {
  fake.setPrice("BTCUSDT", "50000");
  const agent = await executionSetup(db, exchange);
  await insertAlert(db, { idempotencyKey: "p-1", sl: "48000" });
  await agent.runOnce();
  await insertAlert(db, { idempotencyKey: "p-2", qty: "0.003", sl: "49000" });
  await agent.runOnce();
  fake.setPrice("BTCUSDT", "52000");
  await insertAlert(db, { idempotencyKey: "p-3", action: "sell", qty: "0.004" });
  await agent.runOnce();
  const orders = await db.query(
    `select symbol, side, type, purpose, qty::float8, status, idempotency_key, client_order_id,
            filled_qty::float8, avg_fill_price::float8, fee::float8, fee_currency
       from orders order by id`,
  );
  const executions = await db.query(
    "select qty::float8, price::float8, fee::float8, fee_currency from executions order by id",
  );
  const positions = await db.query(
    `select symbol, status, qty::float8, avg_entry_price::float8, stop_price::float8,
            realized_pnl::float8, fees::float8 from positions order by id`,
  );
  const legs = await db.query(
    `select asset, amount::float8, kind from transactions where kind <> 'deposit' order by id`,
  );
  const alerts = await db.query("select status, error from inbound_alerts order by id");
  return { orders, executions, positions, legs, alerts };
}

/** A test database, the fake exchange for prices and a paper broker holding `balance` USDT. */
async function withPaper(
  balance: number,
  fn: (s: { db: Db; exchange: Exchange }) => Promise<void>,
): Promise<void> {
  const fake = startFakeExchange();
  const t = await testDb();
  const exchange = await paperExchange(t.db, fake, balance);
  try {
    await fn({ db: t.db, exchange });
  } finally {
    await exchange.close?.();
    await fake.close();
    await t.close();
  }
}

Deno.test({
  name: "paper mode gives the same rows as live mode against the fake exchange",
  ...serviceTest,
  fn: async () => {
    const fake = startFakeExchange({ balances: { USDT: "10000" } });
    const liveDb = await testDb();
    const paperDb = await testDb();
    const live = await liveExchange(fake);
    const paper = await paperExchange(paperDb.db, fake);
    try {
      const a = await scenario(liveDb.db, live, fake);
      const b = await scenario(paperDb.db, paper, fake);
      assert.equal(a.orders.length, 3);
      assert.ok(a.orders.every((o) => o.status === "FILLED"), JSON.stringify(a.orders));
      assert.deepEqual(b, a);
      const [deposit] = await paperDb.db.query<{ n: number }>(
        "select count(*)::int as n from transactions where account = 'paper' and kind = 'deposit'",
      );
      assert.equal(deposit.n, 1, "the initial paper balance is recorded once");
      assert.equal(fake.orders.length, 3, "paper orders never reach the exchange");
    } finally {
      await live.close?.();
      await paper.close?.();
      await fake.close();
      await liveDb.close();
      await paperDb.close();
    }
  },
});

Deno.test({
  name: "the paper broker refuses what its ledger cannot pay and deposits its balance once",
  ...serviceTest,
  fn: async () => {
    const fake = startFakeExchange();
    const t = await testDb();
    const first = await paperExchange(t.db, fake);
    const second = await paperExchange(t.db, fake);
    try {
      assert.equal((await first.fetchBalance()).USDT.free, "10000");
      assert.equal((await second.fetchBalance()).USDT.free, "10000", "a restart deposits nothing");
      await assert.rejects(
        () =>
          first.createOrder({
            symbol: "BTC/USDT",
            side: "buy",
            type: "market",
            qty: "1",
            clientOrderId: "too-big",
          }),
        (e) => e instanceof RejectedError && /insufficient USDT/.test(e.message),
      );
      await assert.rejects(
        () =>
          first.createOrder({
            symbol: "BTC/USDT",
            side: "sell",
            type: "market",
            qty: "0.001",
            clientOrderId: "nothing-held",
          }),
        /insufficient BTC/,
      );
      await assert.rejects(
        () =>
          first.createOrder({
            symbol: "BTC/USDT",
            side: "buy",
            type: "market",
            qty: "0.00001",
            clientOrderId: "tiny",
          }),
        /notional 0\.5 USDT is below the minimum 5/,
      );
      assert.equal(await first.fetchOrderByClientId("too-big", "BTC/USDT"), null);
      assert.equal(fake.requests["POST order"], undefined);
    } finally {
      await first.close?.();
      await second.close?.();
      await fake.close();
      await t.close();
    }
  },
});

Deno.test({
  name: "parallel paper buys never overdraw the account: what does not fit is refused",
  ...serviceTest,
  fn: () =>
    withPaper(100, async ({ db, exchange }) => {
      const agent = await executionSetup(db, exchange);
      // 40 USDT and a 0.04 fee each: two fit in 100, the third only in part.
      for (let i = 0; i < 10; i++) {
        await insertAlert(db, { idempotencyKey: `par-${i}`, qty: "0.0008", sl: "49000" });
      }
      // Buys that the pass's other buys may leave short wait for the next pass (a few).
      for (let pass = 0; pass < 5 && (await agent.runOnce()).waitingForCash > 0; pass++) {
        await agent.reconcileOnce();
      }
      await agent.reconcileOnce();
      const [bal] = await db.query<{ usdt: string }>(
        "select sum(amount)::text as usdt from transactions where account = 'paper' and asset = 'USDT'",
      );
      assert.ok(Number(bal.usdt) >= 0, `the paper account went to ${bal.usdt}`);
      // Each buy is planned with the cash the others left: two whole, the third capped to what
      // is left (0.00039 BTC for 19.5 USDT and its fee), the other seven refused before any
      // order is sent.
      const statuses = await db.query<{ status: string; n: number }>(
        "select status, count(*)::int as n from orders group by status order by status",
      );
      assert.deepEqual(statuses.map((r) => [r.status, r.n]), [["FILLED", 3]]);
      const refused = await db.query<{ error: string }>(
        "select error from inbound_alerts where status = 'REJECTED'",
      );
      assert.equal(refused.length, 7);
      for (const r of refused) {
        assert.match(
          r.error,
          /below the step .*\(sized by the free 0\.[0-4]\d USDT less 0\.5 % for the market's price\)/,
        );
      }
      const [pos] = await db.query<{ qty: string }>("select qty::text from positions");
      assert.equal(Number(pos.qty), 0.00199);
      const stuck = await db.query(
        "select id from inbound_alerts where status not in ('EXECUTED', 'REJECTED')",
      );
      assert.equal(stuck.length, 0);
    }),
});

Deno.test({
  name: "the paper broker holds back what its filled buys cost until the ledger has them",
  ...serviceTest,
  fn: () =>
    withPaper(100, async ({ db, exchange }) => {
      // Ten recorded buys sent at once, past the planner: the fills are not in the ledger yet
      // (the Execution agent books them from the answers), so only the broker's hold on what
      // its filled orders cost keeps the third from spending the same 100 USDT again.
      await syncMarkets(db, exchange);
      for (let i = 0; i < 10; i++) {
        await db.query(
          `insert into orders (account_id, exchange_id, symbol, side, qty, ref_price, status,
                             idempotency_key, client_order_id)
         values (1, 'binance', 'BTC/USDT', 'buy', 0.0008, 50000, 'NEW', $1, $1)`,
          [`race-${i}`],
        );
      }
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          exchange.createOrder({
            symbol: "BTC/USDT",
            side: "buy",
            type: "market",
            qty: "0.0008",
            clientOrderId: `race-${i}`,
          })),
      );
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 2);
      for (const r of results) {
        if (r.status === "rejected") assert.match(String(r.reason), /insufficient USDT/);
      }
      assert.equal((await exchange.fetchBalance()).USDT.free, "19.92");
    }),
});
