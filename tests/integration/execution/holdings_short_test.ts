/**
 * The exchange holds less of a position's base than recorded (a fee it took in the base and did
 * not report, coins moved outside the service): every sell of the recorded quantity is refused
 * for the balance, the exit and the protective stop alike. Through the real ccxt client against
 * the fake exchange (whose sells are checked against the balance): the position is written down
 * to what is held, once no order could explain the difference, and then sold and protected.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { logger } from "../../../core/log.ts";
import { listAccounts } from "../../../execution/accounts.ts";
import { writeDownToHoldings } from "../../../execution/holdings.ts";
import {
  count,
  insertAlert,
  protectedConfig,
  testConfig,
  withLive,
} from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const ledgerSum = async (db: Parameters<Parameters<typeof withLive>[0]>[0]["db"], asset: string) =>
  Number(
    (await db.query<{ s: string }>(
      "select coalesce(sum(amount), 0)::text as s from transactions where asset = $1",
      [asset],
    ))[0].s,
  );

const openQty = async (db: Parameters<Parameters<typeof withLive>[0]>[0]["db"]) =>
  (await db.query<{ qty: string }>("select qty::text from positions where status = 'OPEN'"))
    .map((r) => Number(r.qty));

Deno.test({
  ...serviceTest,
  name: "an exit of a position the exchange holds less of sells what is held and closes it",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      await insertAlert(db, { qty: "0.1", sl: "49000" });
      assert.equal((await agent.runOnce()).executed, 1);
      // 0.0001 BTC gone without an order the service saw.
      fake.setBalance("BTC", 0.0999);
      const exit = await insertAlert(db, { action: "sell" });
      for (let i = 0; i < 5 && (await openQty(db)).length > 0; i++) {
        await agent.runOnce();
        await agent.reconcileOnce();
      }
      assert.deepEqual(await openQty(db), [], "the position is closed");
      assert.ok(fake.balance("BTC") < 1e-9, `BTC left on the exchange: ${fake.balance("BTC")}`);
      const sells = fake.orders.filter((o) => o.side === "SELL" && o.type === "MARKET");
      assert.deepEqual(sells.map((o) => Number(o.origQty)), [0.0999], "one sell, of what is held");
      assert.equal(await count(db, "select 1 from orders where status = 'REJECTED'"), 0);
      const [alert] = await db.query<{ status: string }>(
        "select status from inbound_alerts where id = $1",
        [exit],
      );
      assert.equal(alert.status, "EXECUTED");
      // The ledger matches the exchange again: the base that went is an adjustment leg.
      assert.ok(
        Math.abs(await ledgerSum(db, "BTC")) < 1e-12,
        `ledger BTC ${await ledgerSum(db, "BTC")}`,
      );
      const [adj] = await db.query<{ amount: string }>(
        "select amount::text from transactions where kind = 'adjustment'",
      );
      assert.equal(Number(adj.amount), -0.0001);
      const told = await db.query<{ severity: string; text: string }>(
        "select severity, text from notification_outbox where kind = 'holdings_short'",
      );
      assert.equal(told.length, 1);
      assert.equal(told[0].severity, "WARN");
      assert.match(told[0].text, /recorded 0\.1 BTC, but the exchange holds 0\.0999/);
      // Its cost is in the realized PnL: 0.0001 BTC at the entry price (50000), beside the
      // fees (the buy's and the sell's).
      const [p] = await db.query<{ pnl: string; fees: string }>(
        "select realized_pnl::text as pnl, fees::text from positions",
      );
      assert.ok(Number(p.fees) > 9, `fees ${p.fees}`);
      assert.ok(
        Math.abs(Number(p.pnl) - (-5 - Number(p.fees))) < 1e-6,
        `realized ${p.pnl}, fees ${p.fees}`,
      );
    }),
});

Deno.test({
  ...serviceTest,
  name: "a buy recorded from its totals without its fee in the base gets a stop of what is held",
  fn: () =>
    withLive(
      async ({ db, fake, agent }) => {
        // The exchange shows no trades and states no fee: the buy is recorded from its totals
        // (0.1), while the commission left 0.0999 BTC in the account.
        fake.showTrades("hidden");
        await insertAlert(db, { qty: "0.1", sl: "49000" });
        await agent.runOnce();
        for (let i = 0; i < 6 && (await openQty(db)).length === 0; i++) {
          await agent.reconcileOnce();
        }
        assert.ok(Math.abs(fake.balance("BTC") - 0.0999) < 1e-12, `BTC ${fake.balance("BTC")}`);
        for (let i = 0; i < 3; i++) await agent.reconcileOnce();
        const stops = fake.orders.filter((o) => o.type === "STOP_LOSS_LIMIT" && o.status === "NEW");
        assert.deepEqual(stops.map((o) => Number(o.origQty)), [0.0999], "a stop of what is held");
        assert.deepEqual(await openQty(db), [0.0999]);
        assert.equal(
          await count(db, "select 1 from notification_outbox where kind = 'protection_failed'"),
          0,
        );
        assert.equal(
          await count(db, "select 1 from notification_outbox where kind = 'holdings_short'"),
          1,
        );
        // The stop sells what is held: the position closes, nothing left on either side.
        fake.setPrice("BTCUSDT", "48990");
        for (let i = 0; i < 4 && (await openQty(db)).length > 0; i++) await agent.reconcileOnce();
        assert.deepEqual(await openQty(db), []);
        assert.ok(fake.balance("BTC") < 1e-9);
        assert.ok(Math.abs(await ledgerSum(db, "BTC")) < 1e-12);
      },
      undefined,
      protectedConfig,
      { commissionIn: "received" },
    ),
});

Deno.test({
  ...serviceTest,
  name: "no write-down while an order on the asset could explain the difference",
  fn: () =>
    withLive(
      async ({ db, fake, agent, exchange }) => {
        await insertAlert(db, { qty: "0.1", sl: "49000" });
        await agent.runOnce();
        const [account] = await listAccounts(db);
        const deps = { db, exchange, account, log: logger("test") };
        fake.setBalance("BTC", 0.05);
        // A buy of the symbol resting (its fill not recorded yet could be anywhere).
        await insertAlert(db, { qty: "0.01", price: "45000", sl: "44000" });
        await agent.runOnce();
        assert.equal(await count(db, "select 1 from orders where status = 'OPEN'"), 1);
        assert.equal(await writeDownToHoldings(deps, "BTC/USDT"), undefined);
        assert.deepEqual(await openQty(db), [0.1]);
        await db.query(
          "update orders set status = 'CANCELED', updated_at = now() - interval '1 hour'",
        );
        // An order of the asset changed while the balance was being read: not certain either.
        const gate = fake.hold("GET account");
        const pending = writeDownToHoldings(deps, "BTC/USDT");
        for (let i = 0; i < 200 && gate.waiting() === 0; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        await db.query("update orders set updated_at = now() where side = 'buy'");
        gate.release();
        assert.equal(await pending, undefined);
        assert.deepEqual(await openQty(db), [0.1]);
        assert.equal(await count(db, "select 1 from transactions where kind = 'adjustment'"), 0);
        // Once nothing is in the way, it is written down, and only once.
        const written = await writeDownToHoldings(deps, "BTC/USDT");
        assert.deepEqual(written, {
          positionId: written?.positionId,
          recorded: "0.1",
          held: "0.05",
          closed: false,
        });
        assert.equal(await writeDownToHoldings(deps, "BTC/USDT"), undefined);
        assert.deepEqual(await openQty(db), [0.05]);
        assert.equal(await count(db, "select 1 from transactions where kind = 'adjustment'"), 1);
      },
      undefined,
      testConfig,
    ),
});
