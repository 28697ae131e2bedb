/**
 * The strategy agent enters a market once and leaves it once, as the backtest trades its
 * signals: its buy while the account holds the symbol, or is still buying it, is refused quietly
 * and places nothing; a buy from another door still adds to the position; once the position is
 * closed the agent's next buy enters again. Through the real ccxt client against the fake Binance.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { alertOf, count, insertAlert, withLive } from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const key = (minute: string, action: "buy" | "sell") =>
  `strategy:ema_rsi:BTC/USDT:2026-12-07T10:${minute}:00.000Z:${action}`;

Deno.test({
  ...serviceTest,
  name: "a strategy agent's buy does not add to a position it holds; other doors may",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      const first = await insertAlert(db, {
        strategy: "ema_rsi",
        idempotencyKey: key("01", "buy"),
        qty: "0.01",
        sl: "49000",
      });
      assert.equal((await agent.runOnce()).executed, 1);
      assert.equal((await alertOf(db, first)).status, "EXECUTED");

      // A later up-cross while the position is open (the down-cross between was dropped).
      const again = await insertAlert(db, {
        strategy: "ema_rsi",
        idempotencyKey: key("09", "buy"),
        qty: "0.01",
        sl: "49000",
      });
      await agent.runOnce();
      const refused = await alertOf(db, again);
      assert.equal(refused.status, "REJECTED");
      assert.match(refused.error ?? "", /already held: the strategy agent does not add/);
      assert.equal(fake.orders.filter((o) => o.side === "BUY").length, 1, "nothing placed");
      assert.equal(
        await count(db, "select 1 from notification_outbox where kind = 'decision_rejected'"),
        0,
        "refused quietly: it is the strategy working as designed",
      );

      // A Pine alert (another door) may add to the position on purpose.
      const add = await insertAlert(
        db,
        { idempotencyKey: "tv-add", qty: "0.01", sl: "49000" },
        "pine",
      );
      await agent.runOnce();
      assert.equal((await alertOf(db, add)).status, "EXECUTED");
      const [p] = await db.query<{ qty: string }>("select qty::text from positions");
      assert.equal(Number(p.qty), 0.02);

      // The agent's sell closes it; its next buy enters again.
      await insertAlert(db, {
        strategy: "ema_rsi",
        idempotencyKey: key("20", "sell"),
        action: "sell",
      });
      await agent.runOnce();
      assert.equal(await count(db, "select 1 from positions where status = 'OPEN'"), 0);
      const reentry = await insertAlert(db, {
        strategy: "ema_rsi",
        idempotencyKey: key("31", "buy"),
        qty: "0.01",
        sl: "49000",
      });
      await agent.runOnce();
      assert.equal((await alertOf(db, reentry)).status, "EXECUTED");
    }),
});

Deno.test({
  ...serviceTest,
  name: "a strategy agent's buy adds nothing while its earlier buy's answer is lost",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      // The first buy's answer is lost: the order is UNKNOWN until the reconciler finds it.
      fake.fail("hang", 1, "MARKET");
      await insertAlert(db, {
        strategy: "ema_rsi",
        idempotencyKey: key("01", "buy"),
        qty: "0.01",
        sl: "49000",
      });
      await agent.runOnce().catch(() => {});
      const second = await insertAlert(db, {
        strategy: "ema_rsi",
        idempotencyKey: key("02", "buy"),
        qty: "0.01",
        sl: "49000",
      });
      await agent.runOnce().catch(() => {});
      assert.equal((await alertOf(db, second)).status, "REJECTED");
      assert.equal(fake.orders.filter((o) => o.side === "BUY").length, 1);
      assert.equal(await count(db, "select 1 from orders where status = 'UNKNOWN'"), 1);
    }, 1_000),
});

Deno.test({
  ...serviceTest,
  name: "two buys of the strategy agent for one symbol in one pass place one order",
  fn: () =>
    withLive(async ({ db, fake, agent }) => {
      // Both up-crosses waited RECEIVED (a pause, a restart) and are claimed together; the pass
      // runs its alerts side by side.
      const first = await insertAlert(db, {
        strategy: "ema_rsi",
        idempotencyKey: key("01", "buy"),
        qty: "0.01",
        sl: "49000",
      });
      const second = await insertAlert(db, {
        strategy: "ema_rsi",
        idempotencyKey: key("09", "buy"),
        qty: "0.01",
        sl: "49000",
      });
      await agent.runOnce();
      await agent.runOnce();
      assert.equal(fake.orders.filter((o) => o.side === "BUY").length, 1, "one buy placed");
      // Whichever of the two was planned first buys; the other waited a pass and was refused.
      const both = [await alertOf(db, first), await alertOf(db, second)];
      assert.deepEqual(both.map((a) => a.status).sort(), ["EXECUTED", "REJECTED"]);
      assert.match(both.find((a) => a.status === "REJECTED")?.error ?? "", /already held/);
      const [p] = await db.query<{ qty: string }>("select qty::text from positions");
      assert.equal(Number(p.qty), 0.01);
    }),
});
