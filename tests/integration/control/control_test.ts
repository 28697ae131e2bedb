/**
 * Operator control and account protections against the fake Binance through the real ccxt
 * client, with the real Execution and Risk agents: a pause refuses entries (with the reason on
 * the alert) and never exits; an operator's exit sells exactly once; a cancel is carried out on
 * the exchange and settled from its answer; the daily loss limit pauses entries on a losing day
 * and lifts the next UTC day; the cooldown refuses a re-entry after a stop; the cap on open
 * positions holds. Every action is recorded in control_actions.
 */
import assert from "node:assert/strict";
import { fakeClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import {
  cancelOrder,
  exitPosition,
  exitTargets,
  pauseTrading,
  resumeTrading,
  sendHeartbeat,
  statusText,
} from "../../../control/mod.ts";
import { createExecutionAgent } from "../../../execution/agent.ts";
import { markEquity } from "../../../execution/protections.ts";
import { syncMarkets } from "../../../execution/markets.ts";
import { createRiskAgent } from "../../../risk/watch.ts";
import type { Exchange } from "../../../exchange/port.ts";
import {
  type FakeExchange,
  type FakeExchangeOptions,
  startFakeExchange,
} from "../../fakes/exchange.ts";
import { ETHBTC_MARKET } from "../../fakes/exchange_views.ts";
import { testDb } from "../../helpers/db.ts";
import { alertOf, count, insertAlert, liveExchange } from "../../helpers/execution.ts";
import { expectNotification, serviceTest } from "../../helpers/fixtures.ts";

const admin = { via: "cli" as const, who: "ops" };

type Risk = {
  maxDailyLossPct?: number;
  maxDrawdownPct?: number;
  cooldownAfterStopMin?: number;
  maxOpenPositions?: number;
  exchangeStops?: boolean;
};

async function withControl(
  risk: Risk,
  fn: (s: {
    db: Db;
    fake: FakeExchange;
    exchange: Exchange;
    agent: ReturnType<typeof createExecutionAgent>;
    clock: ReturnType<typeof fakeClock>;
  }) => Promise<void>,
  exchangeOptions?: FakeExchangeOptions,
) {
  const t = await testDb();
  const fake = startFakeExchange(exchangeOptions);
  const exchange = await liveExchange(fake);
  try {
    await syncMarkets(t.db, exchange);
    await t.db.query("insert into telegram_chats (chat_id) values (42)");
    const clock = fakeClock(new Date("2026-03-02T10:00:00Z"));
    const agent = createExecutionAgent({
      db: t.db,
      exchange,
      clock,
      log: logger("test"),
      config: {
        risk: { perTradePct: 1, signalMaxAgeS: 0, ...risk },
        strategy: { stopPct: 2 },
      } as never,
      tuning: { minAgeMs: 0, notFoundMinAgeMs: 0 },
    });
    await fn({ db: t.db, fake, exchange, agent, clock });
  } finally {
    await exchange.close?.();
    await fake.close();
    await t.close();
  }
}

/** The drawdown lock's peak is no more than the account ever had. */
async function assertPeakAtMost(db: Db, most: number) {
  const [mark] = await db.query<{ peak: string }>(
    "select max(peak_equity)::text as peak from equity_marks",
  );
  assert.ok(Number(mark.peak) <= most, `the peak is what the account had: ${mark.peak}`);
}

const openIds = async (db: Db) =>
  (await db.query<{ id: number; opened_at: Date }>(
    "select id, opened_at from positions where status = 'OPEN' order by id",
  )).map((p) => ({ id: Number(p.id), openedAtMs: new Date(p.opened_at).getTime() }));

Deno.test({
  ...serviceTest,
  name: "a pause refuses entries with the reason and lets exits through; resume trades again",
  fn: () =>
    withControl({}, async ({ db, agent, fake }) => {
      await insertAlert(db, { qty: "0.01", idempotencyKey: "p-buy-1" });
      assert.equal((await agent.runOnce()).executed, 1);

      const paused = await pauseTrading(db, admin, { reason: "exchange incident" });
      assert.equal(paused.ok, true, paused.text);
      assert.equal((await pauseTrading(db, admin, {})).ok, false, "already paused");
      assert.match(
        await statusText(db),
        /default: .*entries are paused \(operator: exchange incident\) until resume/,
      );

      const buy = await insertAlert(db, { qty: "0.01", idempotencyKey: "p-buy-2" });
      const sell = await insertAlert(db, { action: "sell", idempotencyKey: "p-sell-1" });
      const pass = await agent.runOnce();
      assert.equal(pass.executed, 1, "the exit is traded");
      assert.equal(pass.rejected, 1, "the entry is not");
      const refused = await alertOf(db, buy);
      assert.equal(refused.status, "REJECTED");
      assert.match(refused.error ?? "", /entries are paused \(operator: exchange incident\)/);
      assert.equal((await alertOf(db, sell)).status, "EXECUTED");
      assert.equal(fake.orders.length, 2);

      const resumed = await resumeTrading(db, admin, {});
      assert.equal(resumed.ok, true, resumed.text);
      assert.equal((await resumeTrading(db, admin, {})).ok, false, "nothing left to resume");
      const again = await insertAlert(db, { qty: "0.01", idempotencyKey: "p-buy-3" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, again)).status, "EXECUTED");

      const recorded = await db.query<{ action: string; ok: boolean; actor: string }>(
        "select action, ok, actor from control_actions order by id",
      );
      assert.deepEqual(recorded.map((r) => [r.action, r.ok]), [
        ["pause", true],
        ["pause", false],
        ["resume", true],
        ["resume", false],
      ]);
      await expectNotification(db, "control_action", { severity: "INFO", count: 2 });
    }),
});

Deno.test({
  ...serviceTest,
  name: "an operator's exit sells the whole position exactly once",
  fn: () =>
    withControl({}, async ({ db, agent, fake }) => {
      await insertAlert(db, { qty: "0.01", idempotencyKey: "x-buy-1" });
      await agent.runOnce();
      const [target] = await exitTargets(db, "btc/usdt");
      assert.ok(target, "found by symbol");
      assert.match(target.text, /sell 0\.01 BTC\/USDT/);
      assert.deepEqual((await exitTargets(db, String(target.positionId)))[0], target);

      const first = await exitPosition(db, admin, target.positionId, target.openedAtMs);
      assert.equal(first.ok, true, first.text);
      const second = await exitPosition(db, admin, target.positionId, target.openedAtMs);
      assert.equal(second.ok, false);
      assert.match(second.text, /already being exited/);

      await agent.runOnce();
      assert.equal(fake.orders.filter((o) => o.side === "SELL").length, 1);
      assert.deepEqual(await openIds(db), [], "the position is closed");
      const late = await exitPosition(db, admin, target.positionId, target.openedAtMs);
      assert.equal(late.ok, false);
      assert.match(late.text, /not open any more/);
      await agent.runOnce();
      assert.equal(fake.orders.filter((o) => o.side === "SELL").length, 1, "still one sell");
      await expectNotification(db, "operator_exit", { text: /asked by ops \(CLI\)/ });
      // The messages a person reads: the entry with its risk, the exit with its PnL and why.
      const fills = (await db.query<{ text: string }>(
        "select text from notification_outbox where kind = 'order_filled' order by id",
      )).map((r) => r.text);
      assert.match(
        fills[0],
        /^Bought 0\.01 BTC\/USDT at 50000: 500 USDT, fee 0\.5 USDT; stop 49000/,
      );
      assert.match(fills[0], /at risk 10\.5 USDT/);
      // Sold at its entry price: the round trip lost both fees.
      assert.match(
        fills[1],
        /^Sold 0\.01 BTC\/USDT at 50000: PnL -1 USDT \(\+0 %\), fee 0\.5 USDT, held \d+ min; why: operator/,
      );
    }),
});

Deno.test({
  ...serviceTest,
  name: "a cancel request is sent on the order's account and settled from the exchange",
  fn: () =>
    withControl({}, async ({ db, agent, fake }) => {
      await insertAlert(db, { qty: "0.01", price: "40000", idempotencyKey: "c-limit-1" });
      await agent.runOnce();
      const [order] = await db.query<{ id: number; status: string }>(
        "select id, status from orders",
      );
      assert.equal(order.status, "OPEN");
      assert.equal((await cancelOrder(db, admin, 9999)).ok, false, "no such order");
      const r = await cancelOrder(db, admin, Number(order.id));
      assert.equal(r.ok, true, r.text);
      assert.equal((await cancelOrder(db, admin, Number(order.id))).ok, false, "once");
      await agent.reconcileOnce();
      await agent.reconcileOnce();
      const [after] = await db.query<{ status: string }>("select status from orders");
      assert.equal(after.status, "CANCELED");
      assert.equal(fake.orders[0].status, "CANCELED");
      assert.equal((await cancelOrder(db, admin, Number(order.id))).ok, false, "not active");
    }),
});

Deno.test({
  ...serviceTest,
  name: "the daily loss limit pauses entries on a losing day and lifts the next UTC day",
  fn: () =>
    withControl({ maxDailyLossPct: 3 }, async ({ db, agent, fake, clock }) => {
      // Half the balance in BTC, then the price falls 10 %: equity is 5 % down on the day.
      await insertAlert(db, { qty: "0.1", idempotencyKey: "d-buy-1" });
      assert.equal((await agent.runOnce()).executed, 1);
      fake.setPrice("BTCUSDT", "45000");
      const refusedId = await insertAlert(db, { qty: "0.01", idempotencyKey: "d-buy-2" });
      assert.equal((await agent.runOnce()).rejected, 1);
      assert.match((await alertOf(db, refusedId)).error ?? "", /daily loss limit is reached/);
      const [crit] = await expectNotification(db, "protection_tripped", {
        severity: "CRITICAL",
        count: 1,
      });
      assert.match(crit.text, /MAX_DAILY_LOSS_PCT=3/);
      // The rest of the day: refused as paused, without a second CRITICAL.
      clock.advance(6 * 3600_000);
      await insertAlert(db, { qty: "0.01", idempotencyKey: "d-buy-3" });
      assert.equal((await agent.runOnce()).rejected, 1);
      await expectNotification(db, "protection_tripped", { count: 1 });
      // The exit still passes.
      await insertAlert(db, { action: "sell", idempotencyKey: "d-sell-1" });
      assert.equal((await agent.runOnce()).executed, 1);

      // Next UTC day: the pause has lifted and the day starts from the new equity.
      clock.set(new Date("2026-03-03T00:00:01Z"));
      const next = await insertAlert(db, { qty: "0.01", idempotencyKey: "d-buy-4" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, next)).status, "EXECUTED");
    }),
});

Deno.test({
  ...serviceTest,
  name: "a loss before the day's first entry counts: reconcile passes record the equity from " +
    "00:00 UTC",
  fn: () =>
    withControl({ maxDailyLossPct: 3 }, async ({ db, agent, fake, clock }) => {
      // Bought the day before: half the balance in BTC, held over midnight.
      await insertAlert(db, { qty: "0.1", idempotencyKey: "m-buy-1" });
      assert.equal((await agent.runOnce()).executed, 1);
      clock.set(new Date("2026-03-03T00:00:30Z"));
      await agent.reconcileOnce();
      const [first] = await db.query<{ first: string }>(
        "select first_equity::text as first from equity_marks where day = '2026-03-03'",
      );
      assert.ok(first, "the day's first equity is read at its first pass");
      // The price falls 10 % in the morning, with no entry: equity 5 % down on the day.
      clock.set(new Date("2026-03-03T09:00:00Z"));
      fake.setPrice("BTCUSDT", "45000");
      await agent.reconcileOnce();
      const refused = await insertAlert(db, { qty: "0.01", idempotencyKey: "m-buy-2" });
      assert.equal((await agent.runOnce()).rejected, 1);
      assert.match((await alertOf(db, refused)).error ?? "", /daily loss limit is reached/);
      const [mark] = await db.query<{ first: string; last: string }>(
        `select first_equity::text as first, last_equity::text as last from equity_marks
          where day = '2026-03-03'`,
      );
      assert.equal(mark.first, first.first, "the first reading of the day stays the first");
      assert.ok(Number(mark.last) < Number(mark.first) * 0.97);
    }),
});

Deno.test({
  ...serviceTest,
  name: "an exit whose answer hangs is never counted twice by a reconcile pass's equity reading",
  fn: () =>
    withControl({ maxDrawdownPct: 10 }, async ({ db, agent, fake, clock }) => {
      await insertAlert(db, { qty: "0.1", idempotencyKey: "f-buy-1" });
      assert.equal((await agent.runOnce()).executed, 1);
      // The sell is booked and filled; its answer never comes (until the client's timeout):
      // the exchange holds the proceeds while the position is still open in the database.
      fake.fail("hang", 1, "MARKET");
      await insertAlert(db, { action: "sell", idempotencyKey: "f-sell-1" });
      const selling = agent.runOnce().catch((error) => error);
      for (let i = 0; i < 200 && fake.orders.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(fake.orders.length, 2, "the sell reached the exchange");
      assert.ok(fake.balance("USDT") > 9_900, "the proceeds are in the balance");
      await agent.reconcileOnce();
      await selling;
      // Later (old enough to be looked up): the sell is settled and the position closed.
      clock.set(new Date(Date.now() + 3600_000));
      await agent.reconcileOnce();
      assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 0);
      await assertPeakAtMost(db, 10_000);
      const next = await insertAlert(db, { qty: "0.01", idempotencyKey: "f-buy-2" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, next)).status, "EXECUTED");
    }),
});

Deno.test({
  ...serviceTest,
  name: "open orders that cannot be read leave the equity unrecorded: tried again a minute " +
    "later, one WARN on Telegram after 15 minutes, one INFO when a reading is recorded again",
  fn: () =>
    withControl({ maxDrawdownPct: 10, exchangeStops: true }, async ({ db, agent, fake, clock }) => {
      await insertAlert(db, { qty: "0.1", sl: "49000", idempotencyKey: "u-buy-1" });
      assert.equal((await agent.runOnce()).executed, 1);
      const peak = async () =>
        Number(
          (await db.query<{ peak: string }>(
            "select max(peak_equity)::text as peak from equity_marks",
          ))[0].peak,
        );
      const before = await peak();
      // The price rises: a recorded reading would raise the peak. The stop rests on the
      // exchange, so a reading needs the open orders, and they cannot be read.
      fake.setPrice("BTCUSDT", "60000");
      fake.failRequests("GET openOrders", 1_000);
      const lookups = () => fake.requests["GET openOrders"] ?? 0;
      const start = clock.now().getTime();
      const at = async (minutes: number) => {
        clock.set(new Date(start + minutes * 60_000));
        await agent.reconcileOnce();
      };
      await at(0);
      const first = lookups();
      assert.ok(first > 0, "the reading asked for the open orders");
      assert.equal(await peak(), before, "an unsettled reading is not recorded");
      await at(0.5);
      assert.equal(lookups(), first, "not tried again within the minute");
      await at(1.1);
      assert.equal(lookups(), first + 1, "tried again after a minute");
      for (let m = 2; m <= 14; m++) await at(m + 0.1);
      await expectNotification(db, "equity_unsettled", { count: 0 });
      await at(15.1);
      await expectNotification(db, "equity_unsettled", {
        count: 1,
        severity: "WARN",
        text: /not recorded for 15 min.*judge by its last reading/,
      });
      await at(16.2);
      await expectNotification(db, "equity_unsettled", { count: 1 });
      assert.equal(await peak(), before);
      await expectNotification(db, "equity_settled", { count: 0 });
      // The exchange answers again: the next attempt records the reading, and says so once.
      fake.failRequests("GET openOrders", 0);
      await at(17.3);
      assert.ok(await peak() > before, "the settled reading is recorded");
      await expectNotification(db, "equity_settled", { count: 1, severity: "INFO" });
      await at(30);
      await expectNotification(db, "equity_settled", { count: 1 });
      // Both are the account's messages: its own chats hear them too.
      const accounts = await db.query<{ account_id: string | null }>(
        `select account_id::text from notification_outbox
          where kind in ('equity_unsettled', 'equity_settled')`,
      );
      assert.deepEqual(accounts.map((r) => r.account_id), ["1", "1"]);
    }),
});

Deno.test({
  ...serviceTest,
  name: "an order written while the equity is being read leaves the reading unrecorded",
  fn: () =>
    withControl({ maxDrawdownPct: 10, exchangeStops: true }, async ({ db, agent, fake, clock }) => {
      await insertAlert(db, { qty: "0.1", sl: "49000", idempotencyKey: "w-buy-1" });
      assert.equal((await agent.runOnce()).executed, 1);
      const peak = async () =>
        Number(
          (await db.query<{ peak: string }>(
            "select max(peak_equity)::text as peak from equity_marks",
          ))[0].peak,
        );
      const before = await peak();
      fake.setPrice("BTCUSDT", "60000");
      const accountReads = () => fake.requests["GET account"] ?? 0;
      const reads0 = accountReads();
      // The balance call of the pass's reading is slow; meanwhile an order of the account is
      // written (a fill applied by another path, say).
      const slow = fake.hold("GET account");
      clock.set(new Date(clock.now().getTime() + 60_000));
      const pass = agent.reconcileOnce();
      for (let i = 0; i < 300 && slow.waiting() === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(slow.waiting(), 1, "the reading is waiting for its balances");
      await db.query(
        `update orders set updated_at = updated_at + interval '1 second'
          where id = (select max(id) from orders)`,
      );
      slow.release();
      await pass;
      assert.equal(accountReads(), reads0 + 1, "one balance read in the pass");
      assert.equal(
        await peak(),
        before,
        "a reading with an order written meanwhile is not recorded",
      );
      // A minute later, with nothing written meanwhile, the reading is recorded.
      clock.set(new Date(clock.now().getTime() + 61_000));
      await agent.reconcileOnce();
      assert.ok(await peak() > before, "the next reading is recorded");
    }),
});

Deno.test({
  ...serviceTest,
  name: "a stop filled on the exchange and not yet recorded is no equity: the entry is judged " +
    "by the last reading and records none (base held outside the service does not hide it)",
  fn: () =>
    withControl(
      { maxDrawdownPct: 10, exchangeStops: true },
      async ({ db, agent, fake }) => {
        await insertAlert(db, { qty: "0.1", sl: "49000", idempotencyKey: "g-buy-1" });
        assert.equal((await agent.runOnce()).executed, 1);
        assert.equal(
          fake.orders.filter((o) => o.type === "STOP_LOSS_LIMIT" && o.status === "NEW").length,
          1,
          "the stop rests on the exchange",
        );
        // The stop fills on the exchange; no reconcile pass has recorded it yet. The owner's
        // own 0.1 BTC is still in the balance, so the position's base looks held.
        fake.setPrice("BTCUSDT", "48900");
        assert.ok(Math.abs(fake.balance("BTC") - 0.1) < 1e-9, "the stop sold the service's BTC");
        const eth = await insertAlert(db, {
          symbol: "ETH/USDT",
          qty: "0.1",
          idempotencyKey: "g-eth-1",
        });
        assert.equal((await agent.runOnce()).executed, 1);
        assert.equal((await alertOf(db, eth)).status, "EXECUTED");
        await assertPeakAtMost(db, 10_000);
        await agent.reconcileOnce();
        await insertAlert(db, { symbol: "ETH/USDT", qty: "0.01", idempotencyKey: "g-eth-2" });
        assert.equal((await agent.runOnce()).executed, 1);
        await assertPeakAtMost(db, 10_000);
      },
      { balances: { USDT: "10000", BTC: "0.1" } },
    ),
});

Deno.test({
  ...serviceTest,
  name: "a resting buy filled on the exchange and not yet recorded is no loss: the entry is " +
    "judged by the last reading instead of tripping the daily loss limit",
  fn: () =>
    withControl({ maxDailyLossPct: 3 }, async ({ db, agent, fake }) => {
      // A limit buy of 0.1 BTC below the market rests, then fills at 49000 (4,900 USDT).
      await insertAlert(db, { qty: "0.1", price: "49000", idempotencyKey: "r-buy-1" });
      assert.equal((await agent.runOnce()).executed, 1);
      fake.setPrice("BTCUSDT", "48990");
      assert.ok(fake.balance("BTC") > 0.09, "the resting buy filled on the exchange");
      const eth = await insertAlert(db, {
        symbol: "ETH/USDT",
        qty: "0.1",
        idempotencyKey: "r-eth-1",
      });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, eth)).status, "EXECUTED");
      assert.equal(await count(db, "select 1 from trading_pauses"), 0, "no pause");
      const [mark] = await db.query<{ last: string }>(
        "select last_equity::text as last from equity_marks",
      );
      assert.ok(Number(mark.last) > 9_900, `no low reading recorded: ${mark.last}`);
    }),
});

Deno.test({
  ...serviceTest,
  name: "resume lifts the drawdown lock for the days after too: the old days' peak is not " +
    "taken back",
  fn: () =>
    withControl({ maxDrawdownPct: 10 }, async ({ db, agent, fake, clock }) => {
      // Day 1: half the balance in BTC, which rises 20 %: the peak is 11,000.
      await insertAlert(db, { qty: "0.1", idempotencyKey: "p-buy-1" });
      assert.equal((await agent.runOnce()).executed, 1);
      fake.setPrice("BTCUSDT", "60000");
      await agent.reconcileOnce();
      // Day 2: it falls to 40000 (equity 9,000, 18 % below the peak): the lock trips.
      clock.set(new Date("2026-03-03T10:00:00Z"));
      fake.setPrice("BTCUSDT", "40000");
      await insertAlert(db, { qty: "0.01", idempotencyKey: "p-buy-2" });
      assert.equal((await agent.runOnce()).rejected, 1);
      assert.equal((await resumeTrading(db, admin, {}, clock)).ok, true);
      // Day 3: its first reading must not take day 1's peak back.
      clock.set(new Date("2026-03-04T00:00:30Z"));
      await agent.reconcileOnce();
      const next = await insertAlert(db, { qty: "0.01", idempotencyKey: "p-buy-3" });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, next)).status, "EXECUTED");
      await assertPeakAtMost(db, 9_100);
    }),
});

Deno.test({
  ...serviceTest,
  name: "an equity reading that is not a number is never recorded",
  fn: async () => {
    await using t = await testDb();
    for (const bad of [NaN, Infinity]) {
      await assert.rejects(markEquity(t.db, 1, bad, "USDT", new Date()), /is a number/);
    }
    assert.equal(await count(t.db, "select 1 from equity_marks"), 0);
  },
});

Deno.test({
  ...serviceTest,
  name: "equity readings in two quote assets are kept apart: an ETH/BTC entry after readings " +
    "in USDT is no loss",
  fn: () =>
    withControl(
      { maxDailyLossPct: 3, maxDrawdownPct: 10 },
      async ({ db, agent }) => {
        await insertAlert(db, { qty: "0.01", idempotencyKey: "q-buy-1" });
        assert.equal((await agent.runOnce()).executed, 1);
        await agent.reconcileOnce();
        const eth = await insertAlert(db, {
          symbol: "ETH/BTC",
          qty: "0.1",
          idempotencyKey: "q-eth-1",
        });
        assert.equal((await agent.runOnce()).executed, 1);
        assert.equal((await alertOf(db, eth)).status, "EXECUTED");
        const marks = await db.query<{ quote: string; first: string }>(
          "select quote, first_equity::text as first from equity_marks order by quote",
        );
        assert.deepEqual(marks.map((m) => m.quote), ["BTC", "USDT"]);
        assert.ok(Number(marks[0].first) < 1, `BTC equity in BTC: ${marks[0].first}`);
        assert.ok(Number(marks[1].first) > 9_000, `USDT equity in USDT: ${marks[1].first}`);
      },
      {
        balances: { USDT: "10000", BTC: "0.2" },
        markets: [ETHBTC_MARKET],
      },
    ),
});

Deno.test({
  ...serviceTest,
  name: "a stop that filled on the exchange while serve was down cools down from its fill, not " +
    "from when the restart recorded it",
  fn: () => {
    // The exchange's clock: the stop fills 45 minutes before serve comes back and records it.
    let behindMs = 0;
    return withControl(
      { cooldownAfterStopMin: 30, exchangeStops: true },
      async ({ db, agent, fake, clock }) => {
        clock.set(new Date());
        await insertAlert(db, { qty: "0.01", sl: "49000", idempotencyKey: "d-buy-1" });
        assert.equal((await agent.runOnce()).executed, 1);
        assert.equal(
          fake.orders.filter((o) => o.type === "STOP_LOSS_LIMIT" && o.status === "NEW").length,
          1,
        );
        behindMs = 45 * 60_000;
        fake.setPrice("BTCUSDT", "48990");
        behindMs = 0;
        fake.setPrice("BTCUSDT", "50000");
        await agent.reconcileOnce();
        assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 0);
        // 45 minutes after the fill, past the 30 minutes' cooldown: the symbol trades again.
        const re = await insertAlert(db, { qty: "0.01", sl: "49000", idempotencyKey: "d-buy-2" });
        await agent.runOnce();
        assert.equal(
          (await alertOf(db, re)).status,
          "EXECUTED",
          (await alertOf(db, re)).error ?? "",
        );
        // A stop filled just now still cools the symbol down.
        fake.setPrice("BTCUSDT", "48990");
        await agent.reconcileOnce();
        const early = await insertAlert(db, {
          qty: "0.01",
          sl: "49000",
          idempotencyKey: "d-buy-3",
        });
        fake.setPrice("BTCUSDT", "50000");
        await agent.runOnce();
        assert.match((await alertOf(db, early)).error ?? "", /cooling down after its stop-loss/);
      },
      { now: () => Date.now() - behindMs },
    );
  },
});

Deno.test({
  ...serviceTest,
  name: "the cooldown refuses a re-entry after a stop; the open positions cap holds",
  fn: () =>
    withControl(
      { cooldownAfterStopMin: 60, maxOpenPositions: 1 },
      async ({ db, agent, fake, exchange, clock }) => {
        await insertAlert(db, { qty: "0.01", sl: "49000", idempotencyKey: "s-buy-1" });
        assert.equal((await agent.runOnce()).executed, 1);
        // A second symbol would be a second open position: over the cap.
        const eth = await insertAlert(db, {
          symbol: "ETH/USDT",
          qty: "0.1",
          idempotencyKey: "s-eth-1",
        });
        assert.equal((await agent.runOnce()).rejected, 1);
        assert.match((await alertOf(db, eth)).error ?? "", /MAX_OPEN_POSITIONS=1/);

        // The stop is hit and the position sold.
        const risk = createRiskAgent({ db, exchange, log: logger("test") });
        fake.setPrice("BTCUSDT", "48000");
        assert.equal((await risk.runOnce()).handed, 1);
        assert.equal((await agent.runOnce()).executed, 1);
        // Sold, not yet settled by the risk watch: the cooldown already holds.
        const early = await insertAlert(db, { qty: "0.01", idempotencyKey: "s-buy-early" });
        assert.equal((await agent.runOnce()).rejected, 1);
        assert.match((await alertOf(db, early)).error ?? "", /cooling down after its stop-loss/);
        assert.equal((await risk.runOnce()).settled, 1);
        assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 0);

        fake.setPrice("BTCUSDT", "50000");
        const re = await insertAlert(db, { qty: "0.01", idempotencyKey: "s-buy-2" });
        assert.equal((await agent.runOnce()).rejected, 1);
        assert.match((await alertOf(db, re)).error ?? "", /cooling down after its stop-loss/);
        // An hour after the stop, the symbol trades again.
        clock.set(new Date(Date.now() + 61 * 60_000));
        await insertAlert(db, { qty: "0.01", idempotencyKey: "s-buy-3" });
        assert.equal((await agent.runOnce()).executed, 1);
      },
    ),
});

Deno.test({
  ...serviceTest,
  name: "the daily heartbeat says what happened and what needs a look, once a day",
  fn: () =>
    withControl({}, async ({ db, agent, clock }) => {
      await insertAlert(db, { qty: "0.01", idempotencyKey: "h-buy-1" });
      await agent.runOnce();
      await pauseTrading(db, admin, { reason: "holiday" });
      await sendHeartbeat(db, clock, new Date(clock.now().getTime() - 5 * 3_600_000));
      await sendHeartbeat(db, clock);
      const [beat] = await expectNotification(db, "heartbeat", { severity: "INFO", count: 1 });
      assert.match(
        beat.text,
        /^Alive at .*\(up 5 h\)\. Last 24 h: 1 alert\(s\), 1 trade\(s\); 1 open position/,
      );
      assert.match(beat.text, /Needs a look: default: entries are paused \(operator: holiday\)/);
      clock.advance(24 * 3_600_000);
      await sendHeartbeat(db, clock);
      await expectNotification(db, "heartbeat", { count: 2 });
    }),
});

Deno.test({
  ...serviceTest,
  name: "the daily loss limit counts the whole account: a second symbol bought is no loss",
  fn: () =>
    withControl({ maxDailyLossPct: 3 }, async ({ db, agent }) => {
      await insertAlert(db, { qty: "0.1", idempotencyKey: "m-btc" });
      assert.equal((await agent.runOnce()).executed, 1);
      const eth = await insertAlert(db, {
        symbol: "ETH/USDT",
        qty: "0.1",
        idempotencyKey: "m-eth",
      });
      assert.equal((await agent.runOnce()).executed, 1, "no price moved: nothing was lost");
      assert.equal((await alertOf(db, eth)).status, "EXECUTED");
      assert.equal(await count(db, "select 1 from trading_pauses"), 0);
    }),
});

Deno.test({
  ...serviceTest,
  name: "the open positions cap holds for buys of one pass, and counts buys still resting",
  fn: () =>
    withControl({ maxOpenPositions: 1 }, async ({ db, agent, fake }) => {
      await insertAlert(db, { qty: "0.01", idempotencyKey: "cap-btc" });
      await insertAlert(db, { symbol: "ETH/USDT", qty: "0.1", idempotencyKey: "cap-eth" });
      const pass = await agent.runOnce();
      assert.equal(pass.executed, 1, JSON.stringify(pass));
      assert.equal(pass.rejected, 1);
      assert.equal(fake.orders.length, 1);
      // A resting buy on another symbol counts as well.
      await db.query("update positions set status = 'CLOSED', qty = 0");
      await insertAlert(db, {
        symbol: "ETH/USDT",
        qty: "0.1",
        price: "2000",
        idempotencyKey: "cap-rest",
      });
      assert.equal((await agent.runOnce()).executed, 1);
      await insertAlert(db, { qty: "0.01", idempotencyKey: "cap-btc-2" });
      const after = await agent.runOnce();
      assert.equal(after.rejected, 1, JSON.stringify(after));
    }),
});

Deno.test({
  ...serviceTest,
  name: "resume lifts a drawdown lock for good: the old peak does not lock again",
  fn: () =>
    withControl(
      { maxDrawdownPct: 3 },
      async ({ db, agent, fake }) => {
        // A stop 1,000 below the entry: 1 % risk allows the whole 0.1 BTC (qty policy cap).
        await insertAlert(db, { qty: "0.1", sl: "49000", idempotencyKey: "dd-1" });
        await agent.runOnce();
        assert.equal(fake.orders[0].origQty, "0.10000000");
        fake.setPrice("BTCUSDT", "45000");
        await insertAlert(db, { qty: "0.01", sl: "40000", idempotencyKey: "dd-2" });
        assert.equal((await agent.runOnce()).rejected, 1);
        await expectNotification(db, "protection_tripped", { text: /drawdown lock/, count: 1 });
        assert.equal((await resumeTrading(db, admin, {})).ok, true);
        await insertAlert(db, { qty: "0.01", sl: "40000", idempotencyKey: "dd-3" });
        assert.equal((await agent.runOnce()).executed, 1, "the lock does not come straight back");
      },
    ),
});

Deno.test({
  ...serviceTest,
  name: "resume lifts the daily loss pause for the rest of the day: the day's first reading " +
    "does not pause again at the next entry",
  fn: () =>
    withControl({ maxDailyLossPct: 3 }, async ({ db, agent, fake, clock }) => {
      // Half the balance in BTC, then the price falls 10 %: equity is 5 % down on the day.
      await insertAlert(db, { qty: "0.1", idempotencyKey: "dr-buy-1" });
      assert.equal((await agent.runOnce()).executed, 1);
      fake.setPrice("BTCUSDT", "45000");
      await insertAlert(db, { qty: "0.01", idempotencyKey: "dr-buy-2" });
      assert.equal((await agent.runOnce()).rejected, 1);
      await expectNotification(db, "protection_tripped", { text: /daily loss/, count: 1 });
      const resumed = await resumeTrading(db, admin, {}, clock);
      assert.equal(resumed.ok, true, resumed.text);
      assert.match(resumed.text, /daily_loss/);
      const next = await insertAlert(db, { qty: "0.01", idempotencyKey: "dr-buy-3" });
      assert.equal((await agent.runOnce()).executed, 1, "entries resume as the answer says");
      assert.equal((await alertOf(db, next)).status, "EXECUTED");
      await expectNotification(db, "protection_tripped", { count: 1 });
      // A further loss of the limit from the resume's equity pauses again.
      fake.setPrice("BTCUSDT", "38000");
      await insertAlert(db, { qty: "0.01", idempotencyKey: "dr-buy-4" });
      assert.equal((await agent.runOnce()).rejected, 1);
      await expectNotification(db, "protection_tripped", { text: /daily loss/, count: 2 });
    }),
});

Deno.test({
  ...serviceTest,
  name: "an operator's exit asked again after earlier ones were refused sells the position",
  fn: () =>
    withControl({}, async ({ db, agent, fake, exchange }) => {
      await insertAlert(db, { qty: "0.01", idempotencyKey: "xr-buy-1" });
      assert.equal((await agent.runOnce()).executed, 1);
      const risk = createRiskAgent({ db, exchange, log: logger("test") });
      const [target] = await exitTargets(db, "BTC/USDT");
      // The exchange refuses the market sell three times (the operator then fixes the cause).
      fake.fail("refuse", 3, "MARKET");
      for (let i = 1; i <= 3; i++) {
        const asked = await exitPosition(db, admin, target.positionId, target.openedAtMs);
        assert.equal(asked.ok, true, asked.text);
        await agent.runOnce();
        assert.equal(await risk.settle(), 1);
      }
      assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 1);
      const again = await exitPosition(db, admin, target.positionId, target.openedAtMs);
      assert.equal(again.ok, true, again.text);
      await agent.runOnce();
      assert.deepEqual(await openIds(db), [], "the position is sold");
      assert.equal(fake.orders.filter((o) => o.side === "SELL").length, 1);
    }),
});
