/**
 * How honest a paper fill is, through the real paper broker over the fake Binance's public
 * ticker (real ccxt client): a fill is at a price the market traded and the order would have
 * got on Binance, whatever the broker went through in between (a crash between two of its
 * writes, a stop that triggered into a gap), and what Binance refuses is refused in paper too.
 */
import assert from "node:assert/strict";
import type { Db } from "../../../db/db.ts";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import {
  executionSetup,
  insertAlert,
  liveExchange,
  paperExchange,
  protectedConfig,
} from "../../helpers/execution.ts";
import { syncMarkets } from "../../../execution/markets.ts";
import type { Exchange } from "../../../exchange/port.ts";
import { RejectedError } from "../../../core/errors.ts";
import type { FakeExchange } from "../../fakes/exchange.ts";

/** Records an order row as the agent does before its create call; returns its client id. */
async function recordOrder(
  db: Db,
  o: { side: "buy" | "sell"; type: string; qty: string; price?: string; stop?: string },
) {
  const cid = `pf-${crypto.randomUUID().slice(0, 8)}`;
  await db.query(
    `insert into orders (exchange_id, symbol, side, type, qty, price, stop_price, client_order_id,
                         idempotency_key, purpose, status)
     values ('binance', 'BTC/USDT', $1, $2, $3, $4, $5, $6, $6, 'entry', 'NEW')`,
    [o.side, o.type, o.qty, o.price ?? null, o.stop ?? null, cid],
  );
  return cid;
}

/** A database whose first statement starting with `prefix` fails, as a process killed there. */
function dyingAt(db: Db, prefix: string): Db {
  let died = false;
  return new Proxy(db, {
    get(target, key) {
      if (key !== "query") return Reflect.get(target, key);
      return (text: string, ...rest: unknown[]) => {
        if (!died && text.trimStart().startsWith(prefix)) {
          died = true;
          return Promise.reject(new Error("killed"));
        }
        return (target.query as (...a: unknown[]) => unknown)(text, ...rest);
      };
    },
  });
}

/** An entry of 0.01 at 50000, its stop (49000, limit 48755) gapped through, then 49200. */
async function gapAndBack(db: Db, exchange: Exchange, fake: FakeExchange) {
  fake.setPrice("BTCUSDT", "50000");
  const agent = await executionSetup(db, exchange, {}, protectedConfig);
  await insertAlert(db, { qty: "0.01", sl: "49000" });
  await agent.runOnce();
  // 48000: the stop is reached, its limit is not: it rests on the book as a limit at 48755.
  fake.setPrice("BTCUSDT", "48000");
  await agent.reconcileOnce();
  // The market comes back through 48755 to 49200: the resting sell is taken at its price.
  fake.setPrice("BTCUSDT", "49200");
  await agent.reconcileOnce();
  await agent.reconcileOnce();
  return await db.query<{ status: string; avg: string; legs: string }>(
    `select o.status, o.avg_fill_price::text as avg,
            (select sum(amount)::text from transactions t
              where t.order_id = o.id and t.asset = 'USDT' and t.kind = 'trade') as legs
       from orders o where o.purpose = 'stop_loss'`,
  );
}

Deno.test({
  ...serviceTest,
  name: "a stop-limit triggered into a gap fills at its limit when the market comes back, " +
    "in paper as on the exchange",
  fn: async () => {
    const fake = startFakeExchange();
    const liveDb = await testDb();
    const paperDb = await testDb();
    const live = await liveExchange(fake);
    const paper = await paperExchange(paperDb.db, fake);
    try {
      const onExchange = await gapAndBack(liveDb.db, live, fake);
      const inPaper = await gapAndBack(paperDb.db, paper, fake);
      // Never at 49200, above the stop itself: nobody would have bought it there.
      for (const rows of [onExchange, inPaper]) {
        assert.deepEqual(rows.map((r) => [r.status, Number(r.avg), Number(r.legs)]), [
          ["FILLED", 48755, 487.55],
        ]);
      }
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
  ...serviceTest,
  name: "a marketable paper limit killed between its book entry and its fill fills at the price " +
    "it was accepted at, never at its limit",
  fn: async () => {
    const t = await testDb();
    const fake = startFakeExchange();
    try {
      const first = await paperExchange(dyingAt(t.db, "update paper_orders"), fake);
      await syncMarkets(t.db, first);
      const cid = await recordOrder(t.db, {
        side: "buy",
        type: "limit",
        qty: "0.01",
        price: "50500",
      });
      // 50000 is under the limit: Binance fills it at once, at the asks (about 50000).
      await first.createOrder({
        symbol: "BTC/USDT",
        side: "buy",
        type: "limit",
        qty: "0.01",
        price: "50500",
        clientOrderId: cid,
      }).catch(() => {});
      await first.close?.();
      // After the restart the market trades at 50400: it never reached 50500.
      fake.setPrice("BTCUSDT", "50400");
      const second = await paperExchange(t.db, fake);
      const seen = await second.fetchOrderByClientId(cid, "BTC/USDT");
      await second.close?.();
      assert.equal(seen?.status, "closed");
      assert.equal(seen?.avgPrice, "50000", "filled at the price it was accepted at");
      assert.equal(seen?.fills?.[0].price, "50000");
    } finally {
      await fake.close();
      await t.close();
    }
  },
});

Deno.test({
  ...serviceTest,
  name: "a marketable paper limit buy is checked at its limit, as Binance checks it: its " +
    "notional and the cash it needs",
  fn: async () => {
    const t = await testDb();
    const fake = startFakeExchange({ balances: { USDT: "1000" } });
    try {
      const paper = await paperExchange(t.db, fake, 1_000);
      await syncMarkets(t.db, paper);
      const buy = async (qty: string, price: string) => {
        const cid = await recordOrder(t.db, { side: "buy", type: "limit", qty, price });
        return await paper.createOrder({
          symbol: "BTC/USDT",
          side: "buy",
          type: "limit",
          qty,
          price,
          clientOrderId: cid,
        });
      };
      const live = await liveExchange(fake);
      const onExchange = async (qty: string, price: string) => {
        const cid = `lv-${crypto.randomUUID().slice(0, 8)}`;
        return await live.createOrder({
          symbol: "BTC/USDT",
          side: "buy",
          type: "limit",
          qty,
          price,
          clientOrderId: cid,
        });
      };
      try {
        fake.setPrice("BTCUSDT", "49900");
        // 0.0001 at 50500 is 5.05 USDT, over the minimum 5 (at the last price it is 4.99):
        // accepted and filled at the market, in paper as on the exchange.
        assert.equal((await onExchange("0.0001", "50500")).status, "closed");
        const small = await buy("0.0001", "50500");
        assert.deepEqual([small.status, small.avgPrice], ["closed", "49900"]);
        // 0.0199 at 60000 needs 1194 USDT free, more than the account has, though at the market
        // it would cost about 993: refused in paper as on the exchange.
        await assert.rejects(() => onExchange("0.0199", "60000"), /insufficient|balance/i);
        await assert.rejects(() => buy("0.0199", "60000"), /insufficient USDT balance/);
      } finally {
        await live.close?.();
        await paper.close?.();
      }
    } finally {
      await fake.close();
      await t.close();
    }
  },
});

/** A create of `qty` BTC sent as is (no planning): the exchange's or the broker's refusal. */
async function refusalOf(exchange: Exchange, type: "market" | "limit", qty: string) {
  try {
    await exchange.createOrder({
      symbol: "BTC/USDT",
      side: "buy",
      type,
      qty,
      price: type === "limit" ? "45000" : undefined,
      clientOrderId: `direct-${crypto.randomUUID().slice(0, 8)}`,
    });
    return "accepted";
  } catch (error) {
    assert.ok(error instanceof RejectedError, String(error));
    return error.message;
  }
}

Deno.test({
  ...serviceTest,
  name: "a paper order above the market's maximum quantity is refused, as on the exchange; an " +
    "entry is planned at that maximum",
  fn: async () => {
    // LOT_SIZE maxQty 0.05: 0.06 BTC is more than one order may carry on this market.
    const fake = startFakeExchange({ markets: [{ symbol: "BTCUSDT", maxQty: "0.05" }] });
    const liveDb = await testDb();
    const paperDb = await testDb();
    const live = await liveExchange(fake);
    const paper = await paperExchange(paperDb.db, fake);
    try {
      assert.match(await refusalOf(live, "market", "0.06"), /LOT_SIZE/);
      assert.match(
        await refusalOf(paper, "market", "0.06"),
        /quantity 0\.06 is above the maximum 0\.05/,
      );
      assert.equal((await paper.fetchBalance()).USDT.total, "10000", "nothing was bought");
      // Planned, the alert's 0.06 buys the market's largest order, on both.
      const outcome = async (db: Db, exchange: Exchange) => {
        const agent = await executionSetup(db, exchange);
        await insertAlert(db, { qty: "0.06", sl: "49000" });
        await agent.runOnce();
        return (await db.query<{ status: string; qty: string }>(
          "select status, filled_qty::text as qty from orders",
        )).map((o) => [o.status, Number(o.qty)]);
      };
      assert.deepEqual(await outcome(liveDb.db, live), [["FILLED", 0.05]]);
      assert.deepEqual(await outcome(paperDb.db, paper), [["FILLED", 0.05]]);
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
  ...serviceTest,
  name: "a paper market order above the market's maximum for market orders is refused, as on " +
    "the exchange, and a limit of that size is not",
  fn: async () => {
    // MARKET_LOT_SIZE maxQty 0.05 (LOT_SIZE allows 9000): a market order of 0.06 BTC is more
    // than the book may take at once on this market; a limit of 0.06 is accepted.
    const fake = startFakeExchange({ markets: [{ symbol: "BTCUSDT", marketMaxQty: "0.05" }] });
    const liveDb = await testDb();
    const paperDb = await testDb();
    const live = await liveExchange(fake);
    const paper = await paperExchange(paperDb.db, fake);
    try {
      assert.match(await refusalOf(live, "market", "0.06"), /MARKET_LOT_SIZE/);
      assert.match(
        await refusalOf(paper, "market", "0.06"),
        /quantity 0\.06 is above the maximum 0\.05 of a market order on BTC\/USDT \(MARKET_LOT_SIZE\)/,
      );
      // Planned: the limit of 0.06 rests, the market entry of 0.06 buys 0.05, on both.
      const outcome = async (db: Db, exchange: Exchange) => {
        const agent = await executionSetup(db, exchange);
        await insertAlert(db, { qty: "0.06", sl: "49000" });
        await insertAlert(db, { qty: "0.06", price: "45000", sl: "44000" });
        await agent.runOnce();
        return (await db.query<{ type: string; status: string; qty: string }>(
          "select type, status, qty::text from orders order by type",
        )).map((o) => [o.type, o.status, Number(o.qty)]);
      };
      const expected = [["limit", "OPEN", 0.06], ["market", "FILLED", 0.05]];
      assert.deepEqual(await outcome(liveDb.db, live), expected);
      assert.deepEqual(await outcome(paperDb.db, paper), expected);
    } finally {
      await live.close?.();
      await paper.close?.();
      await fake.close();
      await liveDb.close();
      await paperDb.close();
    }
  },
});
