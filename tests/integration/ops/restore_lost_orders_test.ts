/**
 * A restore over a database with orders the backup does not have (placed after it was taken)
 * names them: they may be resting or filled on the exchange, and the restored database, so
 * serve and its reconciliation, knows nothing of them.
 */
import assert from "node:assert/strict";
import { seedInstrument, serverUrl, testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { loadConfig } from "../../../core/config.ts";
import { type Db, migrate, openEmbeddedAt } from "../../../db/mod.ts";
import { restoreBackup, takeBackup } from "../../../ops/mod.ts";

const NOW = new Date("2026-12-01T03:00:00Z");

const order = (db: Db, key: string, status: string) =>
  db.query(
    `insert into orders (exchange_id, symbol, side, qty, ref_price, status, idempotency_key,
                         client_order_id)
     values ('binance', 'BTC/USDT', 'buy', '0.01', '50000', $2, $1, $1)`,
    [key, status],
  );

const LOST = [{ clientOrderId: "after-1", symbol: "BTC/USDT", status: "OPEN" }];

Deno.test({
  name: "an embedded restore over newer orders names the orders the backup does not have",
  ...serviceTest,
  fn: async () => {
    const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "pgsl-lo-" }));
    try {
      const config = loadConfig({ DATA_DIR: `${root}/data` });
      const db = await openEmbeddedAt(config.dataDir);
      let file;
      try {
        await migrate(db);
        await seedInstrument(db);
        await order(db, "before-1", "FILLED");
        file = (await takeBackup(db, `${root}/backups`, { now: NOW })).path;
        await order(db, "after-1", "OPEN");
      } finally {
        await db.close();
      }
      const r = await restoreBackup(config, file, { now: NOW, force: true });
      assert.deepEqual(r.ordersNotInBackup, LOST);
      const again = await restoreBackup(config, file, { now: NOW, force: true });
      assert.deepEqual(again.ordersNotInBackup, [], "the backup over itself loses none");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "a server restore over newer orders names the orders the backup does not have" +
    (serverUrl() ? "" : " (needs TEST_DATABASE_URL)"),
  ignore: !serverUrl(),
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const dir = await Deno.makeTempDir({ prefix: "pgsl-lo-" });
    try {
      await seedInstrument(t.db);
      await order(t.db, "before-1", "FILLED");
      const file = (await takeBackup(t.db, dir, { now: NOW, url: t.url })).path;
      await order(t.db, "after-1", "OPEN");
      const config = loadConfig({ DATABASE_URL: t.url });
      const r = await restoreBackup(config, file, { now: NOW, force: true });
      assert.deepEqual(r.ordersNotInBackup, LOST);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
