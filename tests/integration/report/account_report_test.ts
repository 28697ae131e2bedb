/**
 * Reports per account: `report daily --account NAME` counts that account's orders, fills and
 * ledger legs only and is stored under the account's name, while the report without --account
 * still sums every account booking on the exchange; the schedule announces an account's report
 * to that account's chats (and the operator's), not to another account's.
 */
import assert from "node:assert/strict";
import { cliDb } from "../../helpers/cli_db.ts";
import { seedInstrument } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { loadConfig } from "../../../core/config.ts";
import type { Db } from "../../../db/db.ts";
import { accountScope, accountScopes, catchUp } from "../../../report/component.ts";
import { periodOf } from "../../../report/period.ts";

/** A paper account funded with `deposit` USDT, then one round trip of `qty` BTC, 1 USDT fee a fill. */
async function roundTrip(
  db: Db,
  o: { account: string; deposit: number; qty: number; buy: number; sell: number; at: Date },
) {
  const [{ id }] = await db.query<{ id: string }>(
    "select id::text from accounts where name = $1",
    [o.account],
  );
  const leg = (asset: string, amount: number, kind: string, at: Date, ids: number[] = []) =>
    db.query(
      `insert into transactions (account_id, exchange_id, account, asset, amount, kind, order_id,
                                 execution_id, note, created_at)
       values ($1, 'binance', 'paper', $2, $3, $4, $5, $6, $7, $8)`,
      [
        id,
        asset,
        amount,
        kind,
        ids[0] ?? null,
        ids[1] ?? null,
        kind === "deposit" ? "initial paper balance" : null,
        at,
      ],
    );
  await leg("USDT", o.deposit, "deposit", new Date(o.at.getTime() - 60_000));
  for (const [side, price, minute] of [["buy", o.buy, 0], ["sell", o.sell, 30]] as const) {
    const at = new Date(o.at.getTime() + minute * 60_000);
    const key = `${o.account}-${side}`;
    const [order] = await db.query<{ id: number }>(
      `insert into orders (account_id, exchange_id, symbol, side, qty, ref_price, status,
                           filled_qty, avg_fill_price, fee, fee_currency, idempotency_key,
                           client_order_id, strategy, created_at)
       values ($1, 'binance', 'BTC/USDT', $2, $3, $4, 'FILLED', $3, $4, 1, 'USDT', $5, $5,
               'trend', $6)
       returning id`,
      [id, side, o.qty, price, key, at],
    );
    const [exec] = await db.query<{ id: number }>(
      // (Written in the transaction of its legs, as order_updates.ts does: one created_at.)
      `insert into executions (account_id, order_id, exchange_trade_id, qty, price, fee,
                               fee_currency, executed_at, created_at)
       values ($1, $2, $3, $4, $5, 1, 'USDT', $6, $6) returning id`,
      [id, order.id, `t-${key}`, o.qty, price, at],
    );
    const sign = side === "buy" ? 1 : -1;
    const ids = [Number(order.id), Number(exec.id)];
    await leg("BTC", sign * o.qty, "trade", at, ids);
    await leg("USDT", -sign * o.qty * price, "trade", at, ids);
    await leg("USDT", -1, "fee", at, ids);
  }
}

interface Printed {
  scope: string;
  partial: boolean;
  metrics: { realizedPnl: number; fees: number; trades: number; wins: number; endEquity: number };
}

Deno.test({
  ...serviceTest,
  name: "report --account counts only that account's trades; without it every account's",
  fn: async () => {
    await using t = await cliDb();
    for (const name of ["alice", "bob"]) {
      assert.equal((await t.cli(["accounts", "add", name])).code, 0);
    }
    const yesterday = periodOf("daily", new Date(Date.now() - 86_400_000));
    const noon = new Date(yesterday.start.getTime() + 12 * 3_600_000);
    await t.withDb(async (db) => {
      await seedInstrument(db);
      // alice: 500 → 510, fees 2: +8. bob: 1000 → 980, fees 2: −22.
      await roundTrip(db, {
        account: "alice",
        deposit: 1000,
        qty: 0.01,
        buy: 50000,
        sell: 51000,
        at: noon,
      });
      await roundTrip(db, {
        account: "bob",
        deposit: 2000,
        qty: 0.02,
        buy: 50000,
        sell: 49000,
        // After alice's round trip: the report of every account replays the fills of one
        // symbol as one position, so overlapping trades of two accounts would count as one.
        at: new Date(noon.getTime() + 3_600_000),
      });
    });
    const day = yesterday.start.toISOString().slice(0, 10);
    const report = async (...more: string[]) => {
      const r = await t.cli(["report", "daily", "--date", day, "--json", ...more]);
      assert.equal(r.code, 0, r.err);
      return JSON.parse(r.out) as Printed;
    };
    const close = (a: number, b: number, what: string) =>
      assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a}, expected ${b}`);

    const alice = await report("--account", "alice");
    assert.equal(alice.scope, "alice");
    assert.equal(alice.partial, false);
    close(alice.metrics.realizedPnl, 8, "alice's PnL");
    close(alice.metrics.fees, 2, "alice's fees");
    close(alice.metrics.endEquity, 1008, "alice's equity");
    assert.deepEqual([alice.metrics.trades, alice.metrics.wins], [1, 1]);

    const bob = await report("--account", "bob");
    assert.equal(bob.scope, "bob");
    close(bob.metrics.realizedPnl, -22, "bob's PnL");
    close(bob.metrics.endEquity, 1978, "bob's equity");
    assert.deepEqual([bob.metrics.trades, bob.metrics.wins], [1, 0]);

    const nobody = await report("--account", "default");
    assert.equal(nobody.scope, "default");
    assert.deepEqual([nobody.metrics.trades, nobody.metrics.endEquity], [0, 0]);

    const all = await report();
    assert.equal(all.scope, "binance:paper", "without --account: the service's scope as before");
    close(all.metrics.realizedPnl, -14, "every account's PnL");
    close(all.metrics.fees, 4, "every account's fees");
    close(all.metrics.endEquity, 2986, "every account's equity");
    assert.equal(all.metrics.trades, 2);

    let r = await t.cli(["report", "list", "--account", "alice", "--json"]);
    assert.deepEqual((JSON.parse(r.out) as { scope: string }[]).map((x) => x.scope), ["alice"]);
    r = await t.cli(["report", "list", "--json"]);
    assert.equal((JSON.parse(r.out) as unknown[]).length, 4);
    r = await t.cli(["report", "daily", "--account", "zed"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /No account named "zed"; accounts: default, alice, bob/);

    // The schedule: one report per account, each announced to its own chats and the operator's.
    await t.cli(["chats", "add", "1", "--label", "operator"]);
    await t.cli(["chats", "add", "2", "--account", "alice"]);
    await t.cli(["chats", "add", "3", "--account", "bob"]);
    await t.withDb(async (db) => {
      const config = loadConfig({});
      const scopes = await accountScopes(db, config);
      assert.deepEqual(scopes.map((s) => s.name), ["default", "alice", "bob"]);
      const now = yesterday.end;
      const bobs = await catchUp(db, { scope: scopes[2], now });
      assert.deepEqual(
        bobs.filter((x) => x.kind === "daily"),
        [],
        "bob's day was built by report",
      );
      const bobScope = accountScope(config, {
        id: 3,
        name: "bob",
        exchangeId: "binance",
        mode: "paper",
      });
      assert.deepEqual(bobScope, scopes[2]);
      // A later day of bob's, built by the schedule.
      const later = new Date(now.getTime() + 86_400_000 + 1);
      const made = await catchUp(db, { scope: scopes[2], now: later });
      assert.ok(made.length >= 1 && made.every((x) => x.scope === "bob"));
      const rows = await db.query<{ chat_id: string }>(
        "select distinct chat_id::text from notification_outbox where kind = 'report' order by 1",
      );
      assert.deepEqual(rows.map((x) => x.chat_id), ["1", "3"], "bob's chat and the operator's");
    });
  },
});
