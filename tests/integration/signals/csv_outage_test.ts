/**
 * import-csv when the database goes away in the middle of the file: the import stops with the
 * line it reached and what it stored before it, and importing the file again stores the rest
 * without storing anything twice.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { DatabaseUnavailableError, RuntimeError } from "../../../core/errors.ts";
import type { Db } from "../../../db/db.ts";
import { importCsv } from "../../../signals/csv_import.ts";
import { seedInstrument, testDb } from "../../helpers/db.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";

const csv = [
  "ts,symbol,side,qty,price,strategy,idempotency_key",
  "2026-01-01T00:00:00Z,BTC/USDT,buy,0.01,50000,trend,c1",
  "2026-01-01T00:01:00Z,BTC/USDT,sell,0.01,,trend,c2",
  "2026-01-01T00:02:00Z,BTC/USDT,buy,0.01,50000,trend,c3",
  "2026-01-01T00:03:00Z,BTC/USDT,sell,0.01,,trend,c4",
].join("\n");
const stream = () => new Blob([csv]).stream();

Deno.test({
  ...serviceTest,
  name:
    "an import cut by a database outage says where it stopped; run again, it stores the rest once",
  fn: async () => {
    await using t = await testDb();
    await seedInstrument(t.db);
    await insertStrategy(t.db, "trend");
    // The database answers the first two rows' writes, then is gone.
    let writes = 0;
    const flaky = new Proxy(t.db, {
      get(target, p, r) {
        const v = Reflect.get(target, p, r);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          if (
            p === "query" && String(args[0]).includes("record_inbound_decisions") && ++writes > 2
          ) {
            throw new DatabaseUnavailableError("connection refused (simulated outage)");
          }
          return v.apply(target, args);
        };
      },
    }) as Db;
    const error = await importCsv(flaky, stream(), {
      source: "csv",
      exchangeId: "binance",
      dryRun: false,
    }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(error instanceof RuntimeError, String(error));
    assert.match(
      error.message,
      /^The import stopped at line 4: connection refused \(simulated outage\)\. The rows before it were handled \(2 accepted, 0 duplicates, 0 rejected\); importing the file again is safe/,
    );
    const again = await importCsv(t.db, stream(), {
      source: "csv",
      exchangeId: "binance",
      dryRun: false,
    });
    assert.deepEqual([again.accepted, again.duplicates, again.rejected.length], [2, 2, 0]);
    const keys = await t.db.query<{ k: string }>(
      "select idempotency_key as k from inbound_alerts where status = 'RECEIVED' order by id",
    );
    assert.deepEqual(keys.map((r) => r.k), ["c1", "c2", "c3", "c4"]);
  },
});
