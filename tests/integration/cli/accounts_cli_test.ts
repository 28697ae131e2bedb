/**
 * The operator's commands for accounts: `accounts add|list|disable`, `strategies add
 * --accounts`, and the `--account` filter of `orders list` and `positions` — their happy paths
 * and their refusals (bad name, taken name, unknown account, the default account).
 */
import assert from "node:assert/strict";
import { cliDb } from "../../helpers/cli_db.ts";
import { seedInstrument } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import type { Db } from "../../../db/db.ts";

const SECRET = "alice-secret-value-0123456789";

Deno.test({
  ...serviceTest,
  name: "accounts add, list and disable: defaults, key variables named but never shown, refusals",
  fn: async () => {
    await using t = await cliDb({ EXCHANGE_ID: "binance" });
    let r = await t.cli(["accounts", "add", "alice", "--mode", "live", "--user", "Alice"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Added account alice: live on binance/);
    assert.match(r.out, /ACCOUNT_ALICE_API_KEY and ACCOUNT_ALICE_API_SECRET are not set/);
    r = await t.cli(["accounts", "add", "bob", "--paper-balance", "2500", "--risk-pct", "0.5"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Added account bob: paper on binance/, "paper and EXCHANGE_ID by default");
    r = await t.cli(["accounts", "add", "carol-k", "--exchange", "Kraken", "--mode", "sandbox"]);
    assert.equal(r.code, 0, r.err);

    const refusals: [string[], RegExp][] = [
      [["accounts", "add", "alice"], /An account named "alice" already exists/],
      [["accounts", "add", "default"], /An account named "default" already exists/],
      [["accounts", "add", "Bad Name"], /Account name "Bad Name": expected 1–32 lower-case/],
      [["accounts", "add", "dave", "--mode", "margin"], /--mode "margin" is not a mode/],
      [["accounts", "add", "dave", "--risk-pct", "5"], /--risk-pct "5" is out of range/],
      [["accounts", "add", "dave", "--exchange", "no such"], /is not a ccxt exchange id/],
      [
        ["accounts", "add", "dave", "--mode", "live", "--paper-balance", "1"],
        /--paper-balance is for paper accounts/,
      ],
      [["accounts", "add"], /Missing argument/],
      [["accounts", "rename", "alice"], /Unknown subcommand "rename"/],
      [["accounts", "disable", "default"], /The default account cannot be disabled/],
      [["accounts", "disable", "zed"], /No account named "zed"; accounts: default, alice, bob/],
    ];
    for (const [argv, message] of refusals) {
      r = await t.cli(argv);
      assert.equal(r.code, 2, `${argv.join(" ")}: ${r.out}${r.err}`);
      assert.match(r.err, message);
    }

    await t.withDb(async (db) => {
      await seedInstrument(db);
      await db.query(
        `insert into positions (account_id, exchange_id, symbol, qty, avg_entry_price)
         select id, 'binance', 'BTC/USDT', 0.01, 50000 from accounts where name = 'alice'`,
      );
    });
    const env = { ACCOUNT_ALICE_API_KEY: "alice-key-0123456789", ACCOUNT_ALICE_API_SECRET: SECRET };
    r = await t.cli(["accounts", "list", "--json"], env);
    assert.equal(r.code, 0, r.err);
    const rows = JSON.parse(r.out) as Record<string, unknown>[];
    assert.deepEqual(rows.map((a) => [a.name, a.mode, a.exchange, a.enabled]), [
      ["default", "paper", "binance", true],
      ["alice", "live", "binance", true],
      ["bob", "paper", "binance", true],
      ["carol-k", "sandbox", "kraken", true],
    ]);
    const alice = rows[1];
    assert.equal(alice.user, "Alice");
    assert.equal(alice.keys_present, true);
    assert.equal(alice.key_vars, "ACCOUNT_ALICE_API_KEY, ACCOUNT_ALICE_API_SECRET");
    assert.equal(alice.open_positions, 1);
    assert.deepEqual([rows[2].risk_pct, rows[2].paper_balance], [0.5, 2500]);
    assert.equal(rows[3].key_vars, "ACCOUNT_CAROL_K_API_KEY, ACCOUNT_CAROL_K_API_SECRET");
    assert.equal(rows[3].keys_present, false);
    r = await t.cli(["accounts", "list"], env);
    assert.match(r.out, /^carol-k .*MISSING \(ACCOUNT_CAROL_K_API_KEY/m);
    assert.match(r.out, /^alice +Alice .*set \(ACCOUNT_ALICE_API_KEY.* 1$/m);
    assert.ok(!r.out.includes(SECRET) && !r.out.includes("alice-key-0123456789"));

    r = await t.cli(["accounts", "disable", "bob"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Disabled account bob: no new entries/);
    r = await t.cli(["accounts", "list", "--json"]);
    const bob = (JSON.parse(r.out) as Record<string, unknown>[]).find((a) => a.name === "bob")!;
    assert.equal(bob.enabled, false);
  },
});

Deno.test({
  ...serviceTest,
  name:
    "strategies add --accounts subscribes exactly those accounts; an unknown one changes nothing",
  fn: async () => {
    await using t = await cliDb();
    for (const name of ["alice", "bob"]) {
      assert.equal((await t.cli(["accounts", "add", name])).code, 0);
    }
    const list = async () =>
      Object.fromEntries(
        (JSON.parse((await t.cli(["strategies", "list", "--json"])).out) as {
          name: string;
          accounts: string;
          stop_pct: string;
        }[]).map((s) => [s.name, `${s.accounts} stop ${Number(s.stop_pct)}`]),
      );
    let r = await t.cli(["strategies", "add", "trend"]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(await list(), { trend: "default stop 2" }, "no subscription: default");

    r = await t.cli(["strategies", "add", "trend", "--accounts", "alice, bob,alice"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^trend +true +alice,bob /m);
    assert.deepEqual(await list(), { trend: "alice,bob stop 2" });

    r = await t.cli(["strategies", "add", "trend", "--stop-pct", "3", "--accounts", "alice,zed"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /No account named "zed"; accounts: default, alice, bob/);
    r = await t.cli(["strategies", "add", "breakout", "--accounts", "zed"]);
    assert.equal(r.code, 2);
    assert.deepEqual(await list(), { trend: "alice,bob stop 2" }, "neither changed nor added");
    r = await t.cli(["strategies", "add", "trend", "--accounts", ","]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--accounts is empty/);

    r = await t.cli(["strategies", "add", "trend", "--stop-pct", "3"]);
    assert.deepEqual(await list(), { trend: "alice,bob stop 3" }, "no --accounts: kept");
    await t.cli(["accounts", "disable", "bob"]);
    r = await t.cli(["strategies", "add", "trend", "--accounts", "bob"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Disabled account\(s\) bob take no new entries from it/);
    await t.cli(["strategies", "add", "trend", "--accounts", "default"]);
    assert.deepEqual(await list(), { trend: "default stop 3" });
  },
});

/** A filled buy of 0.01 BTC for an account, and its open position. */
async function seedFill(db: Db, account: string, key: string) {
  await db.query(
    `insert into orders (account_id, exchange_id, symbol, side, qty, ref_price, status,
                         filled_qty, idempotency_key, client_order_id, strategy)
     select id, 'binance', 'BTC/USDT', 'buy', 0.01, 50000, 'FILLED', 0.01, $2, $2, 'trend'
       from accounts where name = $1`,
    [account, key],
  );
  await db.query(
    `insert into positions (account_id, exchange_id, symbol, qty, avg_entry_price, strategy)
     select id, 'binance', 'BTC/USDT', 0.01, 50000, 'trend' from accounts where name = $1`,
    [account],
  );
}

Deno.test({
  ...serviceTest,
  name:
    "orders list and positions --account show only that account's rows, with the account column once there are several",
  fn: async () => {
    await using t = await cliDb();
    await t.withDb(async (db) => {
      await seedInstrument(db);
      await seedFill(db, "default", "k-default");
    });
    let r = await t.cli(["orders", "list"]);
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.out, /account/, "one account: no account column");
    r = await t.cli(["positions"]);
    assert.doesNotMatch(r.out, /account/);

    await t.cli(["accounts", "add", "alice"]);
    await t.withDb((db) => seedFill(db, "alice", "k-alice"));
    r = await t.cli(["orders", "list"]);
    assert.match(r.out, /^id +account +created_at/m);
    assert.match(r.out, /^\d+ +alice /m);
    assert.match(r.out, /^\d+ +default /m);

    r = await t.cli(["orders", "list", "--account", "alice", "--json"]);
    assert.equal(r.code, 0, r.err);
    const orders = JSON.parse(r.out) as { account: string; client_order_id: string }[];
    assert.deepEqual(orders.map((o) => [o.account, o.client_order_id]), [["alice", "k-alice"]]);
    r = await t.cli(["positions", "--account", "default", "--json"]);
    const positions = JSON.parse(r.out) as { account: string; qty: string }[];
    assert.deepEqual(positions.map((p) => p.account), ["default"]);
    r = await t.cli(["positions", "--all"]);
    assert.match(r.out, /^id +account +symbol/m);
    assert.equal(r.out.split("\n").length, 3, "header and one row per account");

    for (
      const argv of [["orders", "list", "--account", "zed"], ["positions", "--account", "zed"]]
    ) {
      r = await t.cli(argv);
      assert.equal(r.code, 2, argv.join(" "));
      assert.match(r.err, /No account named "zed"; accounts: default, alice/);
    }
  },
});
