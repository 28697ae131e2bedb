/** `orders list` and `positions` read what execution wrote, as a table or JSON. */
import assert from "node:assert/strict";
import { seedInstrument, testDb } from "../../helpers/db.ts";
import { cliRunner } from "../../helpers/io.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  name: "orders list filters by status and positions shows open positions",
  ...serviceTest,
  fn: async () => {
    const t = await testDb({ onDisk: true });
    let closed = false;
    try {
      await seedInstrument(t.db);
      await t.db.query(
        `insert into orders (exchange_id, symbol, side, qty, ref_price, status, idempotency_key,
                             client_order_id)
         values ('binance', 'BTC/USDT', 'buy', 0.001, 50000, 'FILLED', 'k1', 'c1'),
                ('binance', 'BTC/USDT', 'buy', 0.002, 50000, 'UNKNOWN', 'k2', 'c2')`,
      );
      await t.db.query(
        `insert into positions (exchange_id, symbol, qty, avg_entry_price)
         values ('binance', 'BTC/USDT', 0.001, 50000)`,
      );
      const env: Record<string, string> = t.url
        ? { DATABASE_URL: t.url }
        : { DATA_DIR: t.dataDir! };
      if (!t.url) {
        // An embedded database is one process's: hand it over to the command.
        await t.db.close();
        closed = true;
      }
      const run = cliRunner(env);
      const unknown = await run(["orders", "list", "--status", "unknown", "--json"]);
      assert.equal(unknown.code, 0, unknown.err);
      assert.deepEqual(
        JSON.parse(unknown.out).map((o: { client_order_id: string }) => o.client_order_id),
        ["c2"],
      );
      const all = await run(["orders", "list"]);
      assert.match(all.out, /client_order_id/);
      assert.match(all.out, /c1/);
      const bad = await run(["orders", "list", "--status", "LOST"]);
      assert.equal(bad.code, 2);
      assert.match(bad.err, /Unknown status "LOST"/);
      const pos = await run(["positions", "--json"]);
      assert.equal(pos.code, 0, pos.err);
      assert.equal(Number(JSON.parse(pos.out)[0].qty), 0.001);
    } finally {
      if (closed) {
        if (t.dataDir) await Deno.remove(t.dataDir, { recursive: true }).catch(() => {});
      } else await t.close();
    }
  },
});
