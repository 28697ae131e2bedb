/**
 * Every invariant of the schema, proven by trying to break it. Runs on the real PostgreSQL when
 * TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { seedInstrument, testDb } from "../../helpers/db.ts";
import { sqlState } from "../../../db/db.ts";
import type { Sql } from "../../../db/db.ts";

const t = await testDb();
const { db } = t;
await seedInstrument(db);

let seq = 0;
async function insertOrder(
  sql: Sql,
  o: {
    key?: string;
    cid?: string;
    qty?: string;
    price?: string | null;
    ref?: string;
    status?: string;
  } = {},
) {
  seq++;
  const [row] = await sql.query<{ id: number; qty: string; price: string | null }>(
    `insert into orders (exchange_id, symbol, side, type, qty, price, ref_price, status,
                         idempotency_key, client_order_id)
     values ('binance', 'BTC/USDT', 'buy', $1, $2, $3, $4, $5, $6, $7)
     returning id, qty::text, price::text`,
    [
      o.price === null || o.price === undefined ? "market" : "limit",
      o.qty ?? "0.001",
      o.price ?? null,
      o.ref ?? "50000",
      o.status ?? "NEW",
      o.key ?? `key-${seq}`,
      o.cid ?? `cid-${seq}-${crypto.randomUUID().slice(0, 8)}`,
    ],
  );
  return row;
}

async function rejects(fn: () => Promise<unknown>, state: string, message?: RegExp) {
  try {
    await fn();
  } catch (error) {
    assert.equal(sqlState(error), state, `expected SQLSTATE ${state}, got ${error}`);
    if (message) assert.match(String((error as Error).message), message);
    return;
  }
  assert.fail("expected the statement to be refused");
}

Deno.test({
  name: "schema invariants",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (ctx) => {
    try {
      await ctx.step("a second active order with the same idempotency key is refused", async () => {
        await insertOrder(db, { key: "dup-active" });
        await rejects(() => insertOrder(db, { key: "dup-active" }), "23505");
      });

      await ctx.step("a key may be reused once its unfilled order is terminal", async () => {
        const o = await insertOrder(db, { key: "reuse-ok" });
        await db.query("update orders set status = 'REJECTED' where id = $1", [o.id]);
        await insertOrder(db, { key: "reuse-ok" });
      });

      await ctx.step("a key whose order has any fill can never place another order", async () => {
        const o = await insertOrder(db, { key: "filled-key" });
        await db.query(
          "update orders set status = 'CANCELED', filled_qty = 0.0005 where id = $1",
          [o.id],
        );
        await rejects(
          () => insertOrder(db, { key: "filled-key" }),
          "23505",
          /already has a filled/,
        );
      });

      await ctx.step("a client order id is unique forever", async () => {
        const o = await insertOrder(db, { cid: "forever-1" });
        await db.query("update orders set status = 'FILLED', filled_qty = qty where id = $1", [
          o.id,
        ]);
        await rejects(() => insertOrder(db, { cid: "forever-1" }), "23505");
        await rejects(() => db.query("delete from orders where id = $1", [o.id]), "23001");
        await rejects(
          () => db.query("update orders set client_order_id = 'other' where id = $1", [o.id]),
          "23001",
        );
      });

      await ctx.step("price and size are normalized to tick and step", async () => {
        const o = await insertOrder(db, { qty: "0.0012345678", price: "50000.126" });
        assert.equal(Number(o.qty), 0.00123);
        assert.equal(Number(o.price), 50000.13);
        const [n] = await db.query<{ p: string; s: string; d: string; u: string }>(
          `select normalize_price(1.005, 0.01)::text as p, normalize_size(1.23456, 0.001)::text as s,
                  normalize_price(1.009, 0.01, 'down')::text as d,
                  normalize_price(1.001, 0.01, 'up')::text as u`,
        );
        assert.deepEqual([Number(n.p), Number(n.s), Number(n.d), Number(n.u)], [
          1.01,
          1.234,
          1,
          1.01,
        ]);
      });

      await ctx.step("an order below the minimum quantity is refused", async () => {
        await rejects(
          () => insertOrder(db, { qty: "0.000001" }),
          "23514",
          /quantity .* is below the minimum/,
        );
      });

      await ctx.step(
        "an order below the minimum notional is refused with the numbers",
        async () => {
          await rejects(
            () => insertOrder(db, { qty: "0.00004", ref: "100000", cid: "tiny-1" }),
            "23514",
            /Cannot place order "tiny-1": notional 4(\.0+)? USDT is below the minimum 5/,
          );
          const [m] = await db.query<{ a: boolean; b: boolean }>(
            "select meets_min_notional(0.0001, 50000, 5) as a, meets_min_notional(0.00009, 50000, 5) as b",
          );
          assert.deepEqual([m.a, m.b], [true, false]);
        },
      );

      await ctx.step("an order for an instrument without rules is refused", async () => {
        await rejects(
          () =>
            db.query(
              `insert into orders (exchange_id, symbol, side, qty, ref_price, idempotency_key, client_order_id)
               values ('binance', 'ETH/USDT', 'buy', 1, 3000, 'k-eth', 'c-eth')`,
            ),
          "23514",
          /no trading rules/,
        );
      });

      await ctx.step("transactions are append-only", async () => {
        await db.query(
          "insert into transactions (exchange_id, asset, amount, kind) values ('binance', 'USDT', 100, 'deposit')",
        );
        await rejects(() => db.query("update transactions set amount = 1"), "23001", /append-only/);
        await rejects(() => db.query("delete from transactions"), "23001", /append-only/);
        await rejects(() => db.query("truncate transactions cascade"), "23001", /append-only/);
        const [c] = await db.query<{ n: number }>("select count(*)::int as n from transactions");
        assert.equal(c.n, 1);
      });

      await ctx.step("enqueue_notification fans out by severity and dedupes", async () => {
        await db.query(
          `insert into telegram_chats (chat_id, min_severity, active) values
             (1, 'INFO', true), (2, 'WARN', true), (3, 'CRITICAL', true), (4, 'INFO', false)`,
        );
        const count = async (sev: string, key: string) =>
          (await db.query<{ n: number }>("select enqueue_notification($1, 'test', 'hi', $2) as n", [
            sev,
            key,
          ]))[0].n;
        assert.equal(await count("INFO", "e1"), 1);
        assert.equal(await count("WARN", "e2"), 2);
        assert.equal(await count("CRITICAL", "e3"), 3);
        assert.equal(
          await count("CRITICAL", "e3"),
          0,
          "the same dedupe key is stored once per chat",
        );
        const rows = await db.query<{ chat_id: number; dedupe_key: string }>(
          "select chat_id, dedupe_key from notification_outbox where dedupe_key like 'e3@%' order by chat_id",
        );
        assert.deepEqual(rows.map((r) => r.chat_id), [1, 2, 3]);
        await rejects(
          () =>
            db.query(
              "insert into notification_outbox (chat_id, severity, kind, text, dedupe_key) values (1, 'INFO', 'k', 't', 'e1@1')",
            ),
          "23505",
        );
        await rejects(() => count("LOUD", "e4"), "23514", /Unknown severity/);
      });

      await ctx.step("reports are immutable snapshots", async () => {
        const id = "r".repeat(32);
        await db.query(
          `insert into reports (id, kind, period_start, period_end, metrics, html)
           values ($1, 'daily', now(), now(), '{}', '<p>x</p>')`,
          [id],
        );
        await rejects(() => db.query("update reports set html = 'y'"), "23001");
        await rejects(() => db.query("delete from reports"), "23001");
      });

      await ctx.step("a failed transaction leaves nothing behind", async () => {
        await assert.rejects(() =>
          db.transaction(async (tx) => {
            await insertOrder(tx, { key: "tx-rollback" });
            throw new Error("boom");
          })
        );
        const rows = await db.query("select 1 from orders where idempotency_key = 'tx-rollback'");
        assert.equal(rows.length, 0);
      });
    } finally {
      await t.close();
    }
  },
});
