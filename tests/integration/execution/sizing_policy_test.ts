/**
 * The qty policy and the derived target through the real ccxt client against the fake Binance:
 * an alert's qty above the risk-based size is capped (and the fill says so) unless the strategy
 * trusts it, and a market entry without tp gets its target from the price it traded at.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import {
  alertOf,
  executionSetup,
  insertAlert,
  liveExchange,
  testConfig,
  withLive,
} from "../../helpers/execution.ts";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { ETHBTC_MARKET } from "../../fakes/exchange_views.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { upsertStrategy } from "../../../signals/mod.ts";

const text = async (db: Parameters<Parameters<typeof withLive>[0]>[0]["db"], kind: string) =>
  (await db.query<{ text: string }>(
    "select text from notification_outbox where kind = $1 order by id",
    [kind],
  )).map((r) => r.text);

Deno.test({
  ...serviceTest,
  name: "an alert's qty is capped by 1 % risk under the default policy and the fill says so",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await upsertStrategy(db, "capped", { stop_pct: "2", take_profit_pct: "4" });
      await insertAlert(db, { strategy: "capped", qty: "0.5" });
      assert.equal((await agent.runOnce()).executed, 1);
      // 1 % of 10,000 USDT over a 2 % stop (1,000 USDT per BTC) is 0.1 BTC.
      assert.equal(fake.orders[0].origQty, "0.10000000");
      const [fill] = await text(db, "order_filled");
      assert.match(fill, /qty 0\.5 from the alert capped to 0\.1 by 1 % risk/);
      // The market entry had no tp: its target comes from the price it traded at.
      const [p] = await db.query<{ stop: string; target: string }>(
        "select stop_price::text as stop, take_profit_price::text as target from positions",
      );
      assert.deepEqual([Number(p.stop), Number(p.target)], [49000, 52000]);
      assert.match(fill, /target 52000/);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a strategy with qty policy trust trades the alert's qty beyond the risk rule",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await upsertStrategy(db, "trusted", { qty_policy: "trust" });
      await insertAlert(db, { strategy: "trusted", qty: "0.15", tp: "60000" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal(fake.orders[0].origQty, "0.15000000");
      const [fill] = await text(db, "order_filled");
      assert.match(fill, /qty 0\.15 from the alert \(qty policy trust\)/);
      const [p] = await db.query<{ target: string }>(
        "select take_profit_price::text as target from positions",
      );
      assert.equal(Number(p.target), 60000);
    }),
});

Deno.test({
  ...serviceTest,
  name: "buys of one pass never count the same cash twice: the second waits for the next pass " +
    "and is planned with what the first left, and nothing the exchange would refuse is sent",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      // A 1 % stop makes the 1 % risk a 10,000 USDT position: each buy alone takes all the cash
      // (limit buys at the price: a market buy would leave its margin, marketBuyCashMarginPct).
      await upsertStrategy(db, "greedy", { stop_pct: "1" });
      const btc = await insertAlert(db, { strategy: "greedy", price: "50000" });
      const eth = await insertAlert(db, { strategy: "greedy", symbol: "ETH/USDT", price: "3000" });
      const first = await agent.runOnce();
      assert.equal(first.executed, 1);
      assert.equal(first.waitingForCash, 1, JSON.stringify(first));
      assert.equal(first.rejected, 0);
      const second = await agent.runOnce();
      assert.equal(second.rejected, 1, JSON.stringify(second));
      assert.equal(second.waitingForCash, 0);
      assert.equal(fake.requests["POST order"], 1, "only the buy that fits is sent");
      assert.ok(fake.balance("USDT") >= 0);
      const refused = (await db.query<{ error: string }>(
        "select error from inbound_alerts where id = any($1) and status = 'REJECTED'",
        [[btc, eth]],
      ))[0];
      assert.match(refused.error, /below the step .*\(sized by the free 0\.\d+ USDT\)/);
      assert.equal(
        await db.query("select 1 from orders where status = 'REJECTED'").then((r) => r.length),
        0,
        "no order refused by the exchange",
      );
    }),
});

Deno.test({
  ...serviceTest,
  name:
    "a buy the exchange refuses holds no cash: the buy that waited on it trades in the next pass",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await upsertStrategy(db, "greedy", { stop_pct: "1" });
      fake.fail("refuse", 1, "MARKET");
      const btc = await insertAlert(db, { strategy: "greedy" });
      const eth = await insertAlert(db, { strategy: "greedy", symbol: "ETH/USDT" });
      const first = await agent.runOnce();
      assert.equal(first.rejected, 1, JSON.stringify(first));
      assert.equal(first.waitingForCash, 1);
      const second = await agent.runOnce();
      assert.equal(second.executed, 1, JSON.stringify(second));
      // The two are planned side by side: whichever was sent first was refused, and the other,
      // which waited for its cash, traded in the next pass.
      const statuses = await db.query<{ id: number; status: string }>(
        "select id, status from inbound_alerts where id = any($1) order by id",
        [[btc, eth]],
      );
      assert.deepEqual(statuses.map((a) => a.status).sort(), ["EXECUTED", "REJECTED"]);
      const waited = statuses.find((a) => a.status === "EXECUTED")!.id === eth
        ? { symbol: "ETHUSDT", price: 3000 }
        : { symbol: "BTCUSDT", price: 50_000 };
      // With the whole balance: 1 % risk over a 1 % stop, capped by the cash (fee included).
      const bought = fake.orders.find((o) => o.symbol === waited.symbol && o.status === "FILLED")!;
      assert.ok(
        Number(bought.origQty) * waited.price > 9_900,
        `bought ${bought.origQty} of ${waited.symbol}`,
      );
    }),
});

Deno.test({
  ...serviceTest,
  name: "a market buy sized by the free cash leaves a margin, so it fills above the ticker too",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        // A 1 % stop makes the 1 % risk a 10,000 USDT position: the cash binds. The market
        // fills 0.2 % above the ticker, as the asks of a real book do.
        await upsertStrategy(db, "greedy", { stop_pct: "1" });
        const id = await insertAlert(db, { strategy: "greedy" });
        assert.equal((await agent.runOnce()).executed, 1);
        assert.equal((await alertOf(db, id)).status, "EXECUTED");
        // 10,000 USDT less 0.5 %, at 50,000 with the 0.1 % fee: 0.1988 BTC (all of the cash,
        // 0.1998, would cost 10,019.9 USDT at 50,100 and be refused).
        assert.equal(fake.orders[0].origQty, "0.19880000");
        assert.equal(fake.orders[0].status, "FILLED");
        assert.ok(fake.balance("USDT") > 0);
        const [fill] = await text(db, "order_filled");
        assert.match(fill, /sized by the free 10000\.00 USDT less 0\.5 % for the market's price/);
      },
      undefined,
      testConfig,
      { marketSlippagePct: 0.2 },
    ),
});

/** Orders the exchange refused (sent and answered -2010 or the like). */
const refusedByExchange = async (db: Parameters<typeof text>[0]) =>
  (await db.query("select 1 from orders where status = 'REJECTED'")).length;

Deno.test({
  ...serviceTest,
  name: "the margin of a market buy is not free cash for the pass's next buy: nothing sent is " +
    "refused, also for a buy that cannot wait",
  fn: async () => {
    for (const late of [false, true]) {
      await withLive(
        async ({ db, fake, agent }) => {
          // Signals close to SIGNAL_MAX_AGE_S do not wait for the pass's cash.
          const ts = late ? { ts: new Date(Date.now() - 290_000).toISOString() } : {};
          const source = late ? "pine" : "strategy";
          await upsertStrategy(db, "greedy", { stop_pct: "1" });
          await insertAlert(db, { strategy: "greedy", ...ts }, source);
          // 0.013 ETH (39 USDT) would fit in the 50 USDT the first buy's margin leaves at the
          // ticker, not in the 30 USDT its fill 0.2 % above the ticker leaves.
          await insertAlert(
            db,
            { strategy: "greedy", symbol: "ETH/USDT", ...(late ? {} : { qty: "0.013" }), ...ts },
            source,
          );
          for (let pass = 0; pass < 4 && (await agent.runOnce()).waitingForCash > 0; pass++);
          assert.equal(await refusedByExchange(db), 0, `no order refused (late: ${late})`);
          assert.ok(fake.balance("USDT") >= 0);
          assert.equal(fake.orders[0].status, "FILLED");
        },
        undefined,
        { ...testConfig, risk: { ...testConfig.risk, signalMaxAgeS: 300 } },
        { marketSlippagePct: 0.2 },
      );
    }
  },
});

Deno.test({
  ...serviceTest,
  name: "a trusted market buy keeps the margin too: one that only fits at the ticker is refused " +
    "before it is sent",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        await upsertStrategy(db, "trusted", { qty_policy: "trust" });
        // 9,995 USDT at the ticker with the fee: within the 10,000, not within 99.5 % of it.
        const id = await insertAlert(db, { strategy: "trusted", qty: "0.1997" });
        assert.equal((await agent.runOnce()).rejected, 1);
        assert.match(
          (await alertOf(db, id)).error ?? "",
          /is more than the free 10000\.00 USDT less 0\.5 % for the market's price/,
        );
        assert.equal(fake.requests["POST order"] ?? 0, 0);
        const ok = await insertAlert(db, { strategy: "trusted", qty: "0.1985" });
        assert.equal((await agent.runOnce()).executed, 1);
        assert.equal((await alertOf(db, ok)).status, "EXECUTED");
        assert.equal(await refusedByExchange(db), 0);
      },
      undefined,
      testConfig,
      { marketSlippagePct: 0.2 },
    ),
});

Deno.test({
  ...serviceTest,
  name: "a limit buy sized by the free cash spends all of it: it never fills above its price",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        await upsertStrategy(db, "greedy", { stop_pct: "1" });
        await insertAlert(db, { strategy: "greedy", price: "50000" });
        assert.equal((await agent.runOnce()).executed, 1);
        // 10,000 USDT at 50,000 with the 0.1 % fee: 0.1998 BTC.
        assert.equal(fake.orders[0].origQty, "0.19980000");
        assert.equal(fake.orders[0].status, "FILLED");
      },
      undefined,
      testConfig,
      { marketSlippagePct: 0.2 },
    ),
});

Deno.test({
  ...serviceTest,
  name: "a buy waits once: buys the exchange keeps refusing do not go to it one pass each",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await upsertStrategy(db, "greedy", { stop_pct: "1" });
      // Every buy of all the cash is refused (-2010). Limit buys at the price, which spend all
      // of it (a market buy would leave its margin for the next one).
      fake.fail("refuse", 8, "LIMIT");
      for (let i = 0; i < 8; i++) {
        await insertAlert(db, {
          strategy: "greedy",
          ...(i % 2 ? { symbol: "ETH/USDT", price: "3000" } : { price: "50000" }),
        });
      }
      let passes = 0;
      while (passes < 10) {
        passes++;
        if ((await agent.runOnce()).waitingForCash === 0) break;
      }
      assert.equal(passes, 2, "the buys that waited are planned with what is set aside then");
      assert.equal(fake.requests["POST order"], 2, "one buy sent per pass, two in all");
      const [left] = await db.query<{ n: number }>(
        "select count(*)::int as n from inbound_alerts where status <> 'REJECTED'",
      );
      assert.equal(left.n, 0);
    }),
});

Deno.test({
  ...serviceTest,
  name: "a buy close to SIGNAL_MAX_AGE_S does not wait for the pass's cash: it trades now, smaller",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        const ts = new Date(Date.now() - 290_000).toISOString();
        // 6,000 USDT each of 10,000 (the strategy's 2 % stop and 1 % risk allow 5,000: the
        // strategy trusts the alert's qty).
        await upsertStrategy(db, "late", { qty_policy: "trust" });
        await insertAlert(db, { strategy: "late", qty: "0.12", ts }, "pine");
        await insertAlert(db, { strategy: "late", symbol: "ETH/USDT", qty: "2", ts }, "pine");
        const pass = await agent.runOnce();
        assert.equal(pass.waitingForCash, 0, JSON.stringify(pass));
        assert.equal(pass.executed + pass.rejected, 2, JSON.stringify(pass));
        assert.ok(fake.balance("USDT") >= 0);
      },
      undefined,
      { ...testConfig, risk: { ...testConfig.risk, signalMaxAgeS: 300 } },
    ),
});

/**
 * The fake Binance with ETH/BTC besides the defaults, 10,000 USDT and 0.05 BTC of the owner's
 * own (outside any position), and an agent planning one alert at a time.
 */
async function withPairs(
  fn: (s: {
    db: Parameters<Parameters<typeof withLive>[0]>[0]["db"];
    fake: ReturnType<typeof startFakeExchange>;
    agent: Awaited<ReturnType<typeof executionSetup>>;
  }) => Promise<void>,
) {
  const t = await testDb();
  const fake = startFakeExchange({
    balances: { USDT: "10000", BTC: "0.05" },
    markets: [ETHBTC_MARKET],
  });
  const exchange = await liveExchange(fake);
  try {
    const agent = await executionSetup(t.db, exchange, { concurrency: 1 });
    await upsertStrategy(t.db, "pairs", { qty_policy: "trust" });
    await fn({ db: t.db, fake, agent });
  } finally {
    await exchange.close?.();
    await fake.close();
    await t.close();
  }
}

Deno.test({
  ...serviceTest,
  name: "a buy never spends the base of another position: BTC held by BTC/USDT is not cash " +
    "for ETH/BTC",
  fn: () =>
    withPairs(async ({ db, fake, agent }) => {
      await insertAlert(db, { strategy: "pairs", qty: "0.1" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.ok(Math.abs(fake.balance("BTC") - 0.15) < 1e-9);
      // 1 ETH costs 0.06 BTC: more than the 0.05 BTC that are not the position's.
      const big = await insertAlert(db, { strategy: "pairs", symbol: "ETH/BTC", qty: "1" });
      assert.equal((await agent.runOnce()).rejected, 1);
      assert.match((await alertOf(db, big)).error ?? "", /more than the free 0\.05 BTC/);
      const small = await insertAlert(db, { strategy: "pairs", symbol: "ETH/BTC", qty: "0.5" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, small)).status, "EXECUTED");
      // The position's 0.1 BTC is still there for its exit.
      await insertAlert(db, { strategy: "pairs", action: "sell" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal(
        (await db.query("select 1 from positions where symbol = 'BTC/USDT' and status = 'OPEN'"))
          .length,
        0,
      );
    }),
});

Deno.test({
  ...serviceTest,
  name: "the positions and the balance of a pass tell of one moment: a BTC/USDT buy earlier in " +
    "the pass leaves the owner's BTC free for ETH/BTC",
  fn: () =>
    withPairs(async ({ db, agent }) => {
      await insertAlert(db, { strategy: "pairs", qty: "0.1" });
      // 0.5 ETH = 0.03 BTC, paid from the owner's own 0.05 BTC.
      const eth = await insertAlert(db, { strategy: "pairs", symbol: "ETH/BTC", qty: "0.5" });
      assert.equal((await agent.runOnce()).executed, 2);
      assert.equal((await alertOf(db, eth)).status, "EXECUTED");
    }),
});

Deno.test({
  ...serviceTest,
  name: "an exit of BTC/USDT in the pass does not take the same BTC from an ETH/BTC buy twice",
  fn: () =>
    withPairs(async ({ db, agent }) => {
      await insertAlert(db, { strategy: "pairs", qty: "0.1" });
      assert.equal((await agent.runOnce()).executed, 1);
      await insertAlert(db, { strategy: "pairs", action: "sell" });
      const eth = await insertAlert(db, { strategy: "pairs", symbol: "ETH/BTC", qty: "0.5" });
      const pass = await agent.runOnce();
      assert.equal(pass.executed, 2, JSON.stringify(pass));
      assert.equal((await alertOf(db, eth)).status, "EXECUTED");
    }),
});
