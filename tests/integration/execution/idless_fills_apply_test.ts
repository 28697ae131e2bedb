/**
 * Fills whose exchange gives no trade id, applied as the reconciler and the send path apply an
 * exchange's view of an order (applyExchangeOrder, on the real database): every fill is
 * recorded once, however the order is seen — its trades without ids in its own answer and then
 * with ids from fetchMyTrades, partly over several passes, again after a pass that failed, or
 * only through the order's totals.
 */
import assert from "node:assert/strict";
import { seedInstrument, testDb } from "../../helpers/db.ts";
import {
  applyExchangeOrder,
  ORDER_COLUMNS,
  type OrderRow,
} from "../../../execution/order_updates.ts";
import type { ExchangeOrder, Fill } from "../../../exchange/port.ts";
import { toFill } from "../../../exchange/ccxt_map.ts";
import type { Db } from "../../../db/db.ts";
import { limits } from "../../../core/limits.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const EX_ID = "x-1000";

async function newOrder(db: Db, qty = "0.003"): Promise<OrderRow> {
  const cid = `idless-${crypto.randomUUID().slice(0, 8)}`;
  const [row] = await db.query<OrderRow>(
    `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key, client_order_id)
     values ('binance', 'BTC/USDT', 'buy', $2, 50000, $1, $1) returning ${ORDER_COLUMNS}`,
    [cid, qty],
  );
  return row;
}

/**
 * A trade of the order as ccxt gives it, through the adapter's mapping: 0.001 BTC at `price`,
 * fee 0.05 USDT; without an id unless given (ccxt's `id: undefined`).
 */
const trade = (price: string, id?: string): Fill =>
  toFill({
    id,
    order: EX_ID,
    symbol: "BTC/USDT",
    side: "buy",
    amount: 0.001,
    price: Number(price),
    fee: { cost: 0.05, currency: "USDT" },
    timestamp: 1_700_000_000_000,
  });

/** The order as the exchange shows it: `filled` so far at `avg`, open until all of it is. */
const view = (
  row: OrderRow,
  filled: string,
  avg: string,
  more: Partial<ExchangeOrder> = {},
): ExchangeOrder => ({
  id: EX_ID,
  clientOrderId: row.client_order_id,
  symbol: "BTC/USDT",
  side: "buy",
  type: "limit",
  status: Number(filled) >= Number(row.qty) ? "closed" : "open",
  qty: row.qty,
  filled,
  avgPrice: avg,
  ts: 1_700_000_000_000,
  ...more,
});

/** Applies one view in its own transaction, as one reconcile pass does; the order's new row. */
async function apply(db: Db, row: OrderRow, ex: ExchangeOrder, fills: Fill[]): Promise<OrderRow> {
  const current = await reread(db, row);
  await db.transaction((tx) => applyExchangeOrder(tx, current, ex, fills, "main"));
  return await reread(db, row);
}

const reread = async (db: Db, row: OrderRow) =>
  (await db.query<OrderRow>(`select ${ORDER_COLUMNS} from orders where id = $1`, [row.id]))[0];

/** What is stored of the order: its executions' totals, its position and its ledger legs. */
async function stored(db: Db, row: OrderRow) {
  const [s] = await db.query<
    {
      qty: string;
      cost: string;
      fee: string;
      status: string;
      pos: string;
      btc: string;
      usdt: string;
    }
  >(
    `select (select coalesce(sum(qty), 0)::text from executions where order_id = $1) as qty,
            (select coalesce(sum(qty * price), 0)::text from executions where order_id = $1) as cost,
            (select coalesce(sum(fee), 0)::text from executions where order_id = $1) as fee,
            (select status from orders where id = $1) as status,
            (select coalesce(sum(qty), 0)::text from positions where status = 'OPEN') as pos,
            (select coalesce(sum(amount), 0)::text from transactions where asset = 'BTC') as btc,
            (select coalesce(sum(amount), 0)::text from transactions where asset = 'USDT') as usdt`,
    [row.id],
  );
  return {
    qty: Number(s.qty),
    cost: Number(s.cost),
    fee: Number(s.fee),
    status: s.status,
    position: Number(s.pos),
    btc: Number(s.btc),
    usdt: Number(s.usdt),
  };
}

const near = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a}, expected ${b}`);

/** Every stored number agrees with `qty` BTC bought for `cost` USDT plus `fee` USDT. */
async function expectStored(db: Db, row: OrderRow, qty: number, cost: number, fee: number) {
  const s = await stored(db, row);
  near(s.qty, qty, "executions' quantity");
  near(s.cost, cost, "executions' cost");
  near(s.fee, fee, "executions' fee");
  near(s.position, qty, "position");
  near(s.btc, qty, "ledger BTC");
  near(s.usdt, -(cost + fee), "ledger USDT");
  return s;
}

async function withOrder(fn: (db: Db, row: OrderRow) => Promise<void>) {
  const t = await testDb();
  try {
    await seedInstrument(t.db);
    await fn(t.db, await newOrder(t.db));
  } finally {
    await t.close();
  }
}

Deno.test({
  ...serviceTest,
  name: "trades without ids in the order's answer, then with ids from fetchMyTrades, count once",
  fn: () =>
    withOrder(async (db, row) => {
      // The order's own answer: two trades, no ids.
      let o = await apply(db, row, view(row, "0.002", "50001"), [trade("50000"), trade("50002")]);
      assert.equal(o.status, "PARTIALLY_FILLED");
      await expectStored(db, row, 0.002, 100.002, 0.1);
      // The same two trades, with their ids now, and a third one.
      o = await apply(db, row, view(row, "0.003", "50002"), [
        trade("50000", "t1"),
        trade("50002", "t2"),
        trade("50004", "t3"),
      ]);
      assert.equal(o.status, "FILLED");
      await expectStored(db, row, 0.003, 150.006, 0.15);
      // Seen again either way: nothing more.
      await apply(db, row, view(row, "0.003", "50002"), [
        trade("50000"),
        trade("50002"),
        trade("50004"),
      ]);
      await apply(db, row, view(row, "0.003", "50002"), [trade("50004", "t3")]);
      await expectStored(db, row, 0.003, 150.006, 0.15);
      const [p] = await db.query<{ avg: string }>(
        "select avg_entry_price::text as avg from positions",
      );
      near(Number(p.avg), 50002, "the position's entry");
    }),
});

Deno.test({
  ...serviceTest,
  name: "trades stored by their ids, then seen without ids, add only what is beyond them",
  fn: () =>
    withOrder(async (db, row) => {
      await apply(db, row, view(row, "0.001", "50000"), [trade("50000", "t1")]);
      await expectStored(db, row, 0.001, 50, 0.05);
      const o = await apply(db, row, view(row, "0.003", "50002"), [
        trade("50000"),
        trade("50002"),
        trade("50004"),
      ]);
      assert.equal(o.status, "FILLED");
      await expectStored(db, row, 0.003, 150.006, 0.15);
    }),
});

Deno.test({
  ...serviceTest,
  name: "trades without ids over several passes, one of them failed midway, count once each",
  fn: () =>
    withOrder(async (db, row) => {
      const first = [trade("50000"), trade("50002")];
      // A pass that fails after the view was applied (the process dies, the database goes away):
      // its transaction leaves nothing behind.
      await assert.rejects(
        db.transaction(async (tx) => {
          await applyExchangeOrder(tx, row, view(row, "0.002", "50001"), first, "main");
          throw new Error("crash before commit");
        }),
        /crash before commit/,
      );
      await expectStored(db, row, 0, 0, 0);
      // The next passes see the same trades, then one more.
      await apply(db, row, view(row, "0.002", "50001"), first);
      await apply(db, row, view(row, "0.002", "50001"), first);
      await expectStored(db, row, 0.002, 100.002, 0.1);
      // A stale view (fewer trades than stored) records nothing.
      await apply(db, row, view(row, "0.001", "50000"), [trade("50000")]);
      await expectStored(db, row, 0.002, 100.002, 0.1);
      const o = await apply(db, row, view(row, "0.003", "50002"), [...first, trade("50004")]);
      assert.equal(o.status, "FILLED");
      await expectStored(db, row, 0.003, 150.006, 0.15);
      const keys = await db.query<{ exchange_trade_id: string }>(
        "select exchange_trade_id from executions where order_id = $1 order by id",
        [row.id],
      );
      assert.deepEqual(keys.map((k) => k.exchange_trade_id), ["filled:0.002", "filled:0.003"]);
    }),
});

Deno.test({
  ...serviceTest,
  name: "an order filled beyond the trades it shows is recorded from its totals after a few " +
    "lookups, and the trade shown late is not counted again",
  fn: () =>
    withOrder(async (db, row) => {
      // The order says 0.002 at 50001 on average (no fee); one trade of 0.001 at 50000 is shown.
      const ex = view(row, "0.002", "50001", { status: "closed" });
      for (let i = 1; i < limits.untradedFillLookups; i++) {
        const o = await apply(db, row, ex, [trade("50000", "t1")]);
        assert.equal(o.status, "PARTIALLY_FILLED", `lookup ${i} waits for the other trade`);
        await expectStored(db, row, 0.001, 50, 0.05);
      }
      const o = await apply(db, row, ex, [trade("50000", "t1")]);
      assert.equal(o.status, "FILLED");
      // The rest at the price that makes the average the order's; its fee is not known.
      await expectStored(db, row, 0.002, 100.002, 0.05);
      // The other trade shows up after all, with its id: it is what the totals recorded.
      await apply(db, row, ex, [trade("50000", "t1"), trade("50002", "t2")]);
      await expectStored(db, row, 0.002, 100.002, 0.05);
    }),
});

Deno.test({
  ...serviceTest,
  name: "an order that shows no trades but states its fee is recorded from its totals at once",
  fn: () =>
    withOrder(async (db, row) => {
      const ex = view(row, "0.003", "50002", { fee: { cost: "0.15", currency: "USDT" } });
      const o = await apply(db, row, ex, []);
      assert.equal(o.status, "FILLED");
      await expectStored(db, row, 0.003, 150.006, 0.15);
      await apply(db, row, ex, [trade("50000"), trade("50002"), trade("50004")]);
      await expectStored(db, row, 0.003, 150.006, 0.15);
    }),
});
