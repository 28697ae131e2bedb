/**
 * Accounts apart: a disabled account takes no new entry, also from a signal routed to it before
 * it was disabled, and one account's exchange refusing its reads for good (a suspended
 * account, a missing permission) holds up that account alone, not the pass of the others.
 * Two accounts on two fake Binances, through the real ccxt client.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { fakeClock } from "../../../core/clock.ts";
import { RejectedError } from "../../../core/errors.ts";
import { logger } from "../../../core/log.ts";
import { createExecutionAgent } from "../../../execution/agent.ts";
import { addAccount, disableAccount, setSubscriptions } from "../../../execution/accounts.ts";
import { syncMarkets } from "../../../execution/markets.ts";
import type { Exchange } from "../../../exchange/port.ts";
import { type FakeExchange, startFakeExchange } from "../../fakes/exchange.ts";
import { testDb } from "../../helpers/db.ts";
import { insertAlert, liveExchange, testConfig } from "../../helpers/execution.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";
import type { Db } from "../../../db/db.ts";

/** alice and bob, each on a fake exchange of their own, both trading strategy "trend". */
async function withTwo(
  fn: (
    t: { db: Db; fakes: Record<string, FakeExchange>; ex: Record<string, Exchange> },
  ) => Promise<void>,
) {
  const t = await testDb();
  const fakes: Record<string, FakeExchange> = {};
  const ex: Record<string, Exchange> = {};
  try {
    for (const name of ["alice", "bob"]) {
      fakes[name] = startFakeExchange({ balances: { USDT: "10000" } });
      ex[name] = await liveExchange(fakes[name]);
      await addAccount(t.db, { name, mode: "live", exchangeId: "binance" });
    }
    await syncMarkets(t.db, ex.alice);
    await t.db.query("insert into telegram_chats (chat_id, min_severity) values (42, 'INFO')");
    await insertStrategy(t.db, "trend");
    await setSubscriptions(t.db, "trend", ["alice", "bob"]);
    await fn({ db: t.db, fakes, ex });
  } finally {
    for (const e of Object.values(ex)) await e.close?.();
    for (const f of Object.values(fakes)) await f.close();
    await t.close();
  }
}

const agentFor = (db: Db, exchangeFor: (name: string) => Exchange) =>
  createExecutionAgent({
    db,
    exchangeFor: (a) => Promise.resolve(exchangeFor(a.name)),
    clock: fakeClock(new Date()),
    log: logger("test"),
    config: testConfig,
    tuning: { minAgeMs: 0, notFoundMinAgeMs: 0 },
  });

Deno.test({
  ...serviceTest,
  name: "an account disabled after a signal was routed to it places no entry for it",
  fn: () =>
    withTwo(async ({ db, fakes, ex }) => {
      const agent = agentFor(db, (name) => ex[name]);
      await insertAlert(db, { strategy: "trend", idempotencyKey: "dis-1" });
      assert.equal((await agent.runOnce()).fannedOut, 1);
      await disableAccount(db, "bob");
      await agent.runOnce();
      assert.equal(fakes.alice.orders.length, 1);
      assert.equal(fakes.bob.orders.length, 0, "no new position for a disabled account");
      const [child] = await db.query<{ status: string; error: string }>(
        `select a.status, a.error from inbound_alerts a join accounts c on c.id = a.account_id
          where c.name = 'bob'`,
      );
      assert.equal(child.status, "REJECTED");
      assert.match(child.error, /account bob is disabled: it takes no new entries/);
    }),
});

Deno.test({
  ...serviceTest,
  name: "one account's exchange refusing its reads for good holds up that account, not the pass",
  fn: () =>
    withTwo(async ({ db, fakes, ex }) => {
      // What the adapter makes of ccxt's AccountSuspended on a read (exchange/ccxt_map.ts).
      const suspended: Exchange = {
        ...ex.alice,
        fetchBalance: () =>
          Promise.reject(new RejectedError("Fetching balances failed: account suspended")),
      };
      const agent = agentFor(db, (name) => name === "alice" ? suspended : ex.bob);
      await insertAlert(db, { strategy: "trend", idempotencyKey: "iso-1" });
      await agent.runOnce(); // routed: one alert per account
      const pass = await agent.runOnce(); // does not throw for everyone
      assert.equal(pass.executed, 1);
      assert.equal(fakes.bob.orders.length, 1);
      const [outage] = await db.query<{ text: string }>(
        "select text from notification_outbox where kind = 'account_outage'",
      );
      assert.match(outage.text, /Trading on account alice is held up: .*account suspended/);
    }),
});
