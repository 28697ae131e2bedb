import assert from "node:assert/strict";
import { emptyTestDb, seedInstrument, serverUrl, testDb } from "../../helpers/db.ts";
import { loadMigrations, migrate } from "../../../db/migrate.ts";
import { sqlState } from "../../../db/db.ts";
import { verifyLedger } from "../../../db/ledger.ts";
import { openServerDb } from "../../../db/server.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;
const deposit = (amount: string, note: string | null = null, account = "main") =>
  [
    "insert into transactions (exchange_id, account, asset, amount, kind, note) values ('binance', $1, 'USDT', $2, 'deposit', $3)",
    [account, amount, note],
  ] as const;

Deno.test({
  ...opts,
  name: "each ledger row is chained on insert, and the chain recomputed outside the database holds",
  fn: async () => {
    await using t = await testDb();
    await t.db.query("insert into exchanges (id) values ('binance')");
    await t.db.query(...deposit("100.50"));
    await t.db.query(...deposit("-0.000001", "fee: ünïcødé | 🚀\nsecond line"));
    await t.db.query(...deposit("7", null, "paper"));
    // Skipped by ON CONFLICT after its BEFORE trigger ran: leaves no trace in the chain.
    await t.db.query(
      `insert into transactions (exchange_id, account, asset, amount, kind, note)
       values ('binance', 'paper', 'USDT', 1, 'deposit', 'initial paper balance'),
              ('binance', 'paper', 'USDT', 1, 'deposit', 'x')`,
    );
    await t.db.query(
      `insert into transactions (exchange_id, account, asset, amount, kind, note)
       values ('binance', 'paper', 'USDT', 5, 'deposit', 'initial paper balance')
       on conflict (account_id, exchange_id, account) where kind = 'deposit' and note = 'initial paper balance'
       do nothing`,
    );
    const report = await verifyLedger(t.db);
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.equal(report.rows, 5);
    const rows = await t.db.query<{ chain_seq: number; prev_hash: string; hash: string }>(
      "select chain_seq, prev_hash, hash from transactions order by chain_seq",
    );
    assert.deepEqual(rows.map((r) => Number(r.chain_seq)), [1, 2, 3, 4, 5]);
    assert.equal(rows[0].prev_hash, "0".repeat(64));
    assert.equal(rows[1].prev_hash, rows[0].hash);
    assert.equal(report.head.hash, rows[4].hash);
  },
});

Deno.test({
  ...opts,
  name:
    "ledger verify names the first row changed past the triggers (session_replication_role = replica)",
  fn: async () => {
    await using t = await testDb();
    await t.db.query("insert into exchanges (id) values ('binance')");
    for (const a of ["1", "2", "3", "4"]) await t.db.query(...deposit(a));
    const [third] = await t.db.query<{ id: number }>(
      "select id from transactions where chain_seq = 3",
    );
    await t.db.transaction(async (tx) => {
      await tx.query("set local session_replication_role = replica");
      await tx.query("update transactions set amount = 3000 where chain_seq = 3");
    });
    const report = await verifyLedger(t.db);
    assert.equal(report.ok, false);
    assert.equal(report.broken?.chainSeq, 3);
    assert.equal(report.broken?.id, Number(third.id));
    assert.match(report.broken!.reason, /changed/);
    assert.equal(report.rows, 2);
  },
});

Deno.test({
  ...opts,
  name: "ledger verify detects a row deleted from the middle and a tail cut past the triggers",
  fn: async () => {
    await using t = await testDb();
    await t.db.query("insert into exchanges (id) values ('binance')");
    for (const a of ["1", "2", "3", "4"]) await t.db.query(...deposit(a));
    await t.db.exec("alter table transactions disable trigger transactions_append_only");
    await t.db.query("delete from transactions where chain_seq = 4");
    let report = await verifyLedger(t.db);
    assert.equal(report.ok, false);
    assert.match(report.broken!.reason, /removed from the end/);
    await t.db.query("delete from transactions where chain_seq = 2");
    report = await verifyLedger(t.db);
    assert.equal(report.broken?.chainSeq, 2);
    assert.match(report.broken!.reason, /missing/);
  },
});

Deno.test({
  ...opts,
  name: "executions are append-only and dedupe keys immutable (a no-op update still passes)",
  fn: async () => {
    await using t = await testDb();
    await t.db.query(
      "insert into inbound_alerts (source, raw_body, idempotency_key) values ('pine', '{}', 'k1')",
    );
    await t.db.query(
      "insert into inbound_dedupe_keys (idempotency_key, payload_hash, alert_id) select 'k1', 'h', id from inbound_alerts",
    );
    await t.db.query("update inbound_dedupe_keys set idempotency_key = idempotency_key");
    for (
      const sql of [
        "update inbound_dedupe_keys set payload_hash = 'x'",
        "delete from inbound_dedupe_keys",
      ]
    ) {
      await assert.rejects(t.db.query(sql), (e) => sqlState(e) === "23001", sql);
    }
    await assert.rejects(
      t.db.exec("truncate inbound_dedupe_keys cascade"),
      (e) => sqlState(e) === "23001",
    );
    await seedInstrument(t.db);
    await t.db.query(
      `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key, client_order_id)
       values ('binance', 'BTC/USDT', 'buy', 0.001, 10000, 'k1', 'c1')`,
    );
    await t.db.query(
      `insert into executions (order_id, exchange_trade_id, qty, price, executed_at)
       select id, 't1', 0.001, 10000, now() from orders`,
    );
    for (const sql of ["update executions set qty = 1", "delete from executions"]) {
      await assert.rejects(t.db.query(sql), (e) => sqlState(e) === "23001", sql);
    }
    await assert.rejects(t.db.exec("truncate executions cascade"), (e) => sqlState(e) === "23001");
  },
});

Deno.test({
  ...opts,
  name: "a fill's ledger leg is refused a second time (one per execution, asset and kind)",
  fn: async () => {
    await using t = await testDb();
    await seedInstrument(t.db);
    await t.db.query(
      `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key, client_order_id)
       values ('binance', 'BTC/USDT', 'buy', 0.001, 10000, 'k1', 'c1')`,
    );
    const [e] = await t.db.query<{ id: number; order_id: number }>(
      `insert into executions (order_id, exchange_trade_id, qty, price, executed_at)
       select id, 't1', 0.001, 10000, now() from orders returning id, order_id`,
    );
    const leg = (asset: string, amount: string, kind: string) =>
      t.db.query(
        `insert into transactions (exchange_id, account, asset, amount, kind, order_id, execution_id)
         values ('binance', 'main', $1, $2, $3, $4, $5)`,
        [asset, amount, kind, e.order_id, e.id],
      );
    await leg("BTC", "0.001", "trade");
    await leg("USDT", "-10", "trade");
    await leg("USDT", "-0.01", "fee");
    await assert.rejects(leg("BTC", "0.001", "trade"), (err) => sqlState(err) === "23505");
    // Rows without an execution (deposits, adjustments) are not concerned.
    await t.db.query(...deposit("5"));
    await t.db.query(...deposit("5"));
    const report = await verifyLedger(t.db);
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.equal(report.rows, 5);
  },
});

Deno.test({
  ...opts,
  name: "the paper account never goes negative, whatever the order of concurrent debits",
  fn: async () => {
    await using t = await testDb();
    await t.db.query("insert into exchanges (id) values ('binance')");
    await t.db.query(...deposit("100", "initial paper balance", "paper"));
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        t.db.transaction(async (tx) => {
          await tx.query(
            `insert into transactions (exchange_id, account, asset, amount, kind)
             values ('binance', 'paper', 'USDT', -30, 'trade'), ('binance', 'paper', 'USDT', -0.05, 'fee')`,
          );
        })),
    );
    const refused = results.filter((r) => r.status === "rejected");
    for (const r of refused) assert.equal(sqlState((r as PromiseRejectedResult).reason), "23514");
    assert.equal(refused.length, 7);
    const [bal] = await t.db.query<{ s: string }>(
      "select sum(amount)::text as s from transactions where account = 'paper'",
    );
    assert.equal(Number(bal.s), 9.85);
    // The live account mirrors the exchange and is not held to it.
    await t.db.query(...deposit("-5"));
    assert.equal((await verifyLedger(t.db)).ok, true);
  },
});

Deno.test({
  ...opts,
  name: "a database migrated from 0007 with ledger rows gets its chain at migration time",
  fn: async () => {
    await using t = await emptyTestDb();
    const shipped = await loadMigrations();
    await migrate(t.db, { migrations: shipped.filter((m) => m.version <= 7) });
    await t.db.query("insert into exchanges (id) values ('binance')");
    for (const a of ["10", "-2.5", "0.000000001"]) await t.db.query(...deposit(a, "before 0008"));
    await migrate(t.db, { migrations: shipped });
    await t.db.query(...deposit("1", "after 0008"));
    const report = await verifyLedger(t.db);
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.equal(report.rows, 4);
  },
});

Deno.test({
  ...opts,
  name: "position and fill averages stay at the instrument's price precision",
  fn: async () => {
    await using t = await testDb();
    await seedInstrument(t.db, { tickSize: "0.01000000" });
    const [p] = await t.db.query<{ id: number }>(
      "insert into positions (exchange_id, symbol, qty, avg_entry_price) values ('binance', 'BTC/USDT', 3, 100) returning id",
    );
    for (let i = 0; i < 30; i++) {
      await t.db.query(
        `update positions set avg_entry_price = (qty * avg_entry_price + 0.00007 * 100.03) / (qty + 0.00007),
                qty = qty + 0.00007 where id = $1`,
        [p.id],
      );
    }
    const [r] = await t.db.query<{ avg: string }>(
      "select avg_entry_price::text as avg from positions",
    );
    assert.match(r.avg, /^\d+\.\d{2}$/);
  },
});

const needsServer = serverUrl() ? "" : " (needs a PostgreSQL server: set TEST_DATABASE_URL)";

Deno.test({
  ...opts,
  name: "the app role cannot touch the chain head; a superuser connection is warned about" +
    needsServer,
  ignore: !serverUrl(),
  fn: async () => {
    await using t = await testDb();
    await t.db.exec(await Deno.readTextFile(new URL("../../../db/roles.sql", import.meta.url)));
    const { privilegeWarning } = await import("../../../db/ledger.ts");
    assert.match((await privilegeWarning(t.db)) ?? "", /superuser/);
    const u = new URL(t.url!);
    u.username = "pgsl_app";
    const app = await openServerDb({ url: u.toString(), poolSize: 1 });
    try {
      assert.equal(await privilegeWarning(app), undefined);
      await app.query("insert into exchanges (id) values ('binance')");
      await app.query(...deposit("1"));
      await assert.rejects(
        app.query("update ledger_chain_head set seq = 0"),
        (e) => sqlState(e) === "42501",
      );
      assert.equal((await verifyLedger(app)).ok, true);
    } finally {
      await app.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "a ledger book holding '@' is refused: a leg cannot take another account's hashed form",
  fn: async () => {
    await using t = await testDb();
    await t.db.query("insert into exchanges (id) values ('binance') on conflict do nothing");
    // ('paper@2', account 1) would hash as ('paper', account 2) does.
    await assert.rejects(
      t.db.query(...deposit("1", null, "paper@2")),
      /transactions_account_plain/,
    );
    await t.db.query(...deposit("1", null, "paper"));
    assert.equal((await verifyLedger(t.db)).ok, true);
  },
});
