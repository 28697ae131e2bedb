/**
 * Several accounts in one database, each on its own fake Binance reached through the real ccxt
 * client: one alert of a strategy they all trade becomes exactly one order per account, sized
 * from that account's balance; one account's exchange down holds up only that account; a paper
 * and a live account never mix balances or positions; each account's chat hears only its own.
 */
import assert from "node:assert/strict";
import { fakeClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import { verifyLedger } from "../../../db/ledger.ts";
import { createExecutionAgent } from "../../../execution/agent.ts";
import {
  type Account,
  addAccount,
  recordKeyFingerprint,
  setSubscriptions,
} from "../../../execution/accounts.ts";
import { ConfigError } from "../../../core/errors.ts";
import { clientOrderIdFor } from "../../../execution/plan.ts";
import { syncMarkets } from "../../../execution/markets.ts";
import { createPaperExchange } from "../../../execution/paper_broker.ts";
import { createCcxtExchange } from "../../../exchange/ccxt.ts";
import type { Exchange } from "../../../exchange/port.ts";
import { type FakeExchange, startFakeExchange } from "../../fakes/exchange.ts";
import { testDb } from "../../helpers/db.ts";
import { alertOf, count, insertAlert, liveExchange, testConfig } from "../../helpers/execution.ts";
import { expectNotification, insertStrategy, serviceTest } from "../../helpers/fixtures.ts";

const live = (name: string) => ({ name, mode: "live" as const, exchangeId: "binance" });

/** Accounts on their own fakes (USDT balances as given), all subscribed to strategy "trend". */
async function withAccounts(
  balances: Record<string, string>,
  fn: (
    s: {
      db: Db;
      fakes: Record<string, FakeExchange>;
      accounts: Record<string, Account>;
      agent: ReturnType<typeof createExecutionAgent>;
      clock: ReturnType<typeof fakeClock>;
    },
  ) => Promise<void>,
) {
  const t = await testDb();
  const fakes: Record<string, FakeExchange> = {};
  const exchanges: Record<string, Exchange> = {};
  const accounts: Record<string, Account> = {};
  try {
    for (const [name, usdt] of Object.entries(balances)) {
      fakes[name] = startFakeExchange({ balances: { USDT: usdt } });
      exchanges[name] = await liveExchange(fakes[name]);
      accounts[name] = await addAccount(t.db, live(name));
    }
    await syncMarkets(t.db, Object.values(exchanges)[0]);
    await insertStrategy(t.db, "trend");
    await setSubscriptions(t.db, "trend", Object.keys(balances));
    // The operator's chat hears everything; each account's chat only its own.
    await t.db.query("insert into telegram_chats (chat_id) values (42)");
    for (const [i, a] of Object.values(accounts).entries()) {
      await t.db.query("insert into telegram_chats (chat_id, account_id) values ($1, $2)", [
        100 + i,
        a.id,
      ]);
    }
    const clock = fakeClock(new Date());
    const agent = createExecutionAgent({
      db: t.db,
      exchangeFor: (a) => Promise.resolve(exchanges[a.name]),
      clock,
      log: logger("test"),
      config: testConfig,
      tuning: { minAgeMs: 0, notFoundMinAgeMs: 0 },
    });
    await fn({ db: t.db, fakes, accounts, agent, clock });
  } finally {
    for (const ex of Object.values(exchanges)) await ex.close?.();
    for (const f of Object.values(fakes)) await f.close();
    await t.close();
  }
}

const ordersOf = (db: Db) =>
  db.query<{ name: string; qty: string; client_order_id: string; status: string }>(
    `select a.name, o.qty::text, o.client_order_id, o.status from orders o
       join accounts a on a.id = o.account_id order by a.name`,
  );

Deno.test({
  ...serviceTest,
  name: "one alert for a strategy of three accounts is one order per account, sized from each",
  fn: () =>
    withAccounts({ alice: "10000", bob: "20000", carol: "5000" }, async (s) => {
      const { db, fakes, agent } = s;
      const id = await insertAlert(db, { strategy: "trend", idempotencyKey: "fan-1" });
      const first = await agent.runOnce();
      assert.equal(first.fannedOut, 1);
      assert.equal((await alertOf(db, id)).status, "EXECUTED");
      const second = await agent.runOnce();
      assert.equal(second.executed, 3, JSON.stringify(second));

      const orders = await ordersOf(db);
      assert.deepEqual(orders.map((o) => o.name), ["alice", "bob", "carol"]);
      for (const o of orders) {
        assert.equal(o.status, "FILLED");
        assert.equal(o.client_order_id, clientOrderIdFor("fan-1", 1, o.name));
        assert.equal(fakes[o.name].orders.length, 1, `one order on ${o.name}'s exchange`);
        assert.equal(fakes[o.name].orders[0].clientOrderId, o.client_order_id);
      }
      assert.equal(new Set(orders.map((o) => o.client_order_id)).size, 3);
      // 1 % of equity at risk over a 2 % stop: half the balance, so the sizes keep its ratios.
      const qty = Object.fromEntries(orders.map((o) => [o.name, Number(o.qty)]));
      assert.ok(qty.alice > 0);
      assert.equal(qty.bob, qty.alice * 2);
      assert.equal(qty.carol, qty.alice / 2);
      assert.equal(await count(db, "select 1 from inbound_alerts where parent_id = $1", [id]), 3);
      assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 3);

      // The same signal again (a new alert with the same key): nothing more is placed.
      const again = await insertAlert(db, { strategy: "trend", idempotencyKey: "fan-1" });
      await agent.runOnce();
      const third = await agent.runOnce();
      assert.equal(third.duplicate, 3);
      assert.equal((await alertOf(db, again)).status, "EXECUTED");
      for (const f of Object.values(fakes)) assert.equal(f.requests["POST order"], 1);

      // Each account's chat hears its own fills only; the operator hears them all.
      const byChat = await db.query<{ chat_id: string; texts: string[] }>(
        `select chat_id::text, array_agg(text order by id) as texts from notification_outbox
          where kind = 'order_filled' group by chat_id order by chat_id`,
      );
      const texts = Object.fromEntries(byChat.map((r) => [r.chat_id, r.texts]));
      assert.equal(texts["42"].length, 3);
      for (const [chat, name] of [["100", "alice"], ["101", "bob"], ["102", "carol"]]) {
        assert.equal(texts[chat].length, 1, `chat ${chat}: ${texts[chat]}`);
        assert.match(texts[chat][0], new RegExp(`^\\[${name}\\] Bought`));
      }
    }),
});

Deno.test({
  ...serviceTest,
  name: "one account's exchange down: the others trade, and it is retried and reported",
  fn: () =>
    withAccounts({ alice: "10000", bob: "10000", carol: "10000" }, async (s) => {
      const { db, fakes, agent, clock } = s;
      fakes.bob.maintenance(true);
      await insertAlert(db, { strategy: "trend", idempotencyKey: "down-1" });
      await agent.runOnce();
      const pass = await agent.runOnce();
      assert.equal(pass.executed, 2, JSON.stringify(pass));
      assert.equal(pass.deferred, 1);
      assert.deepEqual((await ordersOf(db)).map((o) => o.name), ["alice", "carol"]);
      const [waiting] = await db.query<{ status: string }>(
        `select c.status from inbound_alerts c join accounts a on a.id = c.account_id
          where a.name = 'bob'`,
      );
      assert.equal(waiting.status, "RECEIVED", "bob's signal waits");
      const [warn] = await expectNotification(db, "account_outage", { severity: "WARN" });
      assert.match(warn.text, /\[bob\] Trading on account bob is held up/);
      assert.equal(
        await count(db, "select 1 from notification_outbox where kind = 'account_outage'"),
        2,
        "the operator's chat and bob's, not alice's or carol's",
      );

      // A new signal meanwhile: alice and carol trade it; bob waits without asking his exchange.
      await insertAlert(db, { strategy: "trend", idempotencyKey: "down-2" });
      await agent.runOnce();
      const asked = fakes.bob.requests["GET ticker/price"] ?? 0;
      const meanwhile = await agent.runOnce();
      assert.equal(meanwhile.executed, 2, JSON.stringify(meanwhile));
      assert.equal(fakes.bob.requests["GET ticker/price"] ?? 0, asked, "paused, not asked");

      // Bob's exchange is back: after his backoff both of his signals are traded, once each.
      fakes.bob.maintenance(false);
      clock.advance(120_000);
      // (His second buy may wait one pass for the cash the first one spends.)
      const back = await agent.runOnce();
      const executed = back.executed +
        (back.waitingForCash > 0 ? (await agent.runOnce()).executed : 0);
      assert.equal(executed, 2, JSON.stringify(back));
      assert.equal(fakes.bob.orders.length, 2);
      for (const f of Object.values(fakes)) assert.equal(f.orders.length, 2);
      await expectNotification(db, "account_outage", { text: /held up|trades again/ });
      assert.ok(
        (await db.query("select 1 from notification_outbox where text like '%bob trades again%'"))
          .length > 0,
      );
    }),
});

Deno.test({
  ...serviceTest,
  name: "a paper and a live account side by side never mix balances, positions or legs",
  fn: async () => {
    const t = await testDb();
    const fake = startFakeExchange({ balances: { USDT: "20000" } });
    const lenaEx = await liveExchange(fake);
    const market = await createCcxtExchange({
      id: "binance",
      mode: "paper",
      apiUrl: fake.url,
      timeoutMs: 2_000,
      throttle: false,
    });
    try {
      const db = t.db;
      const paula = await addAccount(db, {
        name: "paula",
        mode: "paper",
        exchangeId: "binance",
        paperBalance: 1000,
      });
      await addAccount(db, live("lena"));
      const paulaEx = createPaperExchange({
        db,
        market,
        accountId: paula.id,
        initialBalanceQuote: 1000,
      });
      // The default account trades paper too, on its own book: it must stay untouched.
      const defaultEx = createPaperExchange({ db, market, initialBalanceQuote: 500 });
      await syncMarkets(db, lenaEx);
      await insertStrategy(db, "trend");
      await setSubscriptions(db, "trend", ["paula", "lena"]);
      const byName: Record<string, Exchange> = { paula: paulaEx, lena: lenaEx, default: defaultEx };
      const agent = createExecutionAgent({
        db,
        exchangeFor: (a) => Promise.resolve(byName[a.name]),
        clock: fakeClock(new Date()),
        log: logger("test"),
        config: testConfig,
      });
      await insertAlert(db, { strategy: "trend", idempotencyKey: "side-1" });
      await agent.runOnce();
      assert.equal((await agent.runOnce()).executed, 2);
      await insertAlert(db, { strategy: "manual", idempotencyKey: "side-default", qty: "0.001" });
      assert.equal((await agent.runOnce()).executed, 1);

      const positions = await db.query<{ name: string; qty: string }>(
        `select a.name, p.qty::text from positions p join accounts a on a.id = p.account_id
          where p.status = 'OPEN' order by a.name`,
      );
      assert.deepEqual(positions.map((p) => p.name), ["default", "lena", "paula"]);
      // Paper sizing from 1,000 USDT, live from 20,000: twenty times the quantity.
      const qty = Object.fromEntries(positions.map((p) => [p.name, Number(p.qty)]));
      assert.ok(Math.abs(qty.lena / qty.paula - 20) < 0.5, JSON.stringify(qty));
      assert.equal(fake.orders.length, 1, "only the live account reached the exchange");

      const books = await db.query<{ name: string; account: string; usdt: string }>(
        `select a.name, t.account, sum(t.amount) filter (where t.asset = 'USDT')::text as usdt
           from transactions t join accounts a on a.id = t.account_id
          group by a.name, t.account order by a.name`,
      );
      assert.deepEqual(books.map((b) => [b.name, b.account]), [
        ["default", "paper"],
        ["lena", "main"],
        ["paula", "paper"],
      ]);
      const paperFree = Number((await paulaEx.fetchBalance()).USDT.free);
      assert.ok(paperFree < 1000 && paperFree > 0, `paula's paper USDT ${paperFree}`);
      assert.equal(
        Number((await paulaEx.fetchBalance()).BTC.total),
        qty.paula,
        "paula's paper BTC is her own position, not lena's",
      );
      assert.ok(Number((await defaultEx.fetchBalance()).USDT.total) > 400);

      // A sell for both: each sells what it holds, never the other's.
      await insertAlert(db, { strategy: "trend", action: "sell", idempotencyKey: "side-2" });
      await agent.runOnce();
      assert.equal((await agent.runOnce()).executed, 2);
      const left = await db.query<{ name: string }>(
        `select a.name from positions p join accounts a on a.id = p.account_id
          where p.status = 'OPEN' order by a.name`,
      );
      assert.deepEqual(left.map((p) => p.name), ["default"]);
      assert.equal((await verifyLedger(db)).ok, true, "the chain holds, account ids included");
    } finally {
      await lenaEx.close?.();
      await market.close?.();
      await fake.close();
      await t.close();
    }
  },
});

Deno.test({
  ...serviceTest,
  name: "an entry for a strategy whose accounts are all disabled is refused; their exits pass",
  fn: () =>
    withAccounts({ alice: "10000" }, async ({ db, agent, fakes }) => {
      await db.query("update accounts set enabled = false where name = 'alice'");
      const id = await insertAlert(db, { strategy: "trend", idempotencyKey: "none-1" });
      const pass = await agent.runOnce();
      assert.equal(pass.rejected, 1);
      const alert = await alertOf(db, id);
      assert.equal(alert.status, "REJECTED");
      assert.match(alert.error ?? "", /no enabled account trades strategy "trend"/);
      assert.equal(await count(db, "select 1 from orders"), 0);

      // A disabled account still exits what it holds when its strategy says sell.
      await db.query("update accounts set enabled = true where name = 'alice'");
      await insertAlert(db, { strategy: "trend", qty: "0.01", idempotencyKey: "none-buy" });
      await agent.runOnce();
      await db.query("update accounts set enabled = false where name = 'alice'");
      await insertAlert(db, { strategy: "trend", action: "sell", idempotencyKey: "none-sell" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.deepEqual(fakes.alice.orders.map((o) => o.side), ["BUY", "SELL"]);
    }),
});

Deno.test({
  ...serviceTest,
  name: "an account that cannot be opened never crowds the others out of a batch",
  fn: async () => {
    const t = await testDb();
    const fake = startFakeExchange();
    const aliceEx = await liveExchange(fake);
    try {
      const db = t.db;
      await addAccount(db, live("alice"));
      await addAccount(db, live("bob"));
      await syncMarkets(db, aliceEx);
      await insertStrategy(db, "bobs");
      await setSubscriptions(db, "bobs", ["bob"]);
      await insertStrategy(db, "alices");
      await setSubscriptions(db, "alices", ["alice"]);
      await db.query("insert into telegram_chats (chat_id) values (42)");
      let opens = 0;
      const clock = fakeClock(new Date());
      const agent = createExecutionAgent({
        db,
        exchangeFor: (a) => {
          if (a.name === "alice") return Promise.resolve(aliceEx);
          opens++;
          return Promise.reject(new ConfigError("ACCOUNT_BOB_API_KEY is not set"));
        },
        clock,
        log: logger("test"),
        config: testConfig,
        tuning: { batchSize: 2 },
      });
      // Bob's signals come first and fill a batch; alice's comes after.
      await insertAlert(db, { strategy: "bobs", qty: "0.001", idempotencyKey: "b-1" });
      await insertAlert(db, { strategy: "bobs", qty: "0.001", idempotencyKey: "b-2" });
      const alice = await insertAlert(db, {
        strategy: "alices",
        qty: "0.001",
        idempotencyKey: "a-1",
      });
      const passes = 8;
      for (let i = 0; i < passes; i++) {
        await agent.runOnce();
        clock.advance(1_000);
      }
      assert.equal((await alertOf(db, alice)).status, "EXECUTED", "alice is not held up by bob");
      assert.ok(opens <= passes / 2, `bob's exchange is retried with backoff (${opens} opens)`);
      const [crit] = await expectNotification(db, "account_outage", { severity: "CRITICAL" });
      assert.match(crit.text, /\[bob\] .*ACCOUNT_BOB_API_KEY is not set/);
      assert.equal(
        await count(db, "select 1 from inbound_alerts where status = 'RECEIVED'"),
        2,
        "bob's signals wait, kept",
      );
    } finally {
      await aliceEx.close?.();
      await fake.close();
      await t.close();
    }
  },
});

Deno.test({
  ...serviceTest,
  name: "accounts on one exchange id with other prices are each sized from their own ticker",
  fn: async () => {
    const t = await testDb();
    const main = startFakeExchange({ balances: { USDT: "10000" } });
    const testnet = startFakeExchange({
      balances: { USDT: "10000" },
      markets: [{ symbol: "BTCUSDT", price: "25000" }],
    });
    const exchanges: Record<string, Exchange> = {
      lena: await liveExchange(main),
      sam: await liveExchange(testnet),
    };
    try {
      const db = t.db;
      await addAccount(db, live("lena"));
      await addAccount(db, { name: "sam", mode: "sandbox", exchangeId: "binance" });
      await syncMarkets(db, exchanges.lena);
      await insertStrategy(db, "trend");
      await setSubscriptions(db, "trend", ["lena", "sam"]);
      const agent = createExecutionAgent({
        db,
        exchangeFor: (a) => Promise.resolve(exchanges[a.name]),
        clock: fakeClock(new Date()),
        log: logger("test"),
        config: testConfig,
        tuning: { concurrency: 1 },
      });
      await insertAlert(db, { strategy: "trend", idempotencyKey: "px-1" });
      await agent.runOnce();
      assert.equal((await agent.runOnce()).executed, 2);
      const rows = await db.query<{ name: string; ref: string; qty: string }>(
        `select a.name, o.ref_price::text as ref, o.qty::text from orders o
           join accounts a on a.id = o.account_id order by a.name`,
      );
      assert.deepEqual(rows.map((r) => [r.name, Number(r.ref)]), [["lena", 50000], ["sam", 25000]]);
      assert.equal(Number(rows[1].qty), Number(rows[0].qty) * 2, "sized from each own price");
    } finally {
      for (const ex of Object.values(exchanges)) await ex.close?.();
      await main.close();
      await testnet.close();
      await t.close();
    }
  },
});

Deno.test("two accounts never trade one exchange account: twin names and shared keys are refused", async () => {
  await using t = await testDb();
  const db = t.db;
  const a = await addAccount(db, live("a-b"));
  await assert.rejects(
    addAccount(db, live("a_b")),
    /reads the same variables \(ACCOUNT_A_B_API_KEY\)/,
  );
  const c = await addAccount(db, live("carol"));
  await recordKeyFingerprint(db, a, "shared-key-0000");
  await assert.rejects(
    recordKeyFingerprint(db, c, "shared-key-0000"),
    /Account carol has the same API key as account a-b/,
  );
  const stored = JSON.stringify(await db.query("select * from api_keys"));
  assert.ok(!stored.includes("shared-key-0000"), "only a fingerprint is kept");
});
