/**
 * import-csv and strategies through main(), as an operator runs them, against a database
 * another process could open (a server database, or a PGlite data dir on disk).
 */
import assert from "node:assert/strict";
import { testDb, withTestData } from "../../helpers/db.ts";
import { cliRunner } from "../../helpers/io.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const t = await testDb({ onDisk: true });
// The commands open the database themselves; an embedded one must be closed first.
if (t.kind === "embedded") await t.db.close();
const env: Record<string, string | undefined> = t.url
  ? { DATABASE_URL: t.url, LOG_LEVEL: "error" }
  : { DATA_DIR: t.dataDir, LOG_LEVEL: "error" };

const run = cliRunner(env);

const withData = <T>(fn: (db: Db) => Promise<T>) => withTestData(t, fn);

const dir = await Deno.makeTempDir({ prefix: "pgsl-csv-" });
const file = `${dir}/signals.csv`;
const rows = [
  "ts,symbol,side,qty,price,strategy,idempotency_key",
  "2026-01-01T00:00:00Z,BINANCE:BTCUSDT,buy,0.01,50000,trend,a1", // 2 good
  "2026-01-01T00:01:00Z,ETH/USDT,sell,0.5,,trend,a2", // 3 good, market order
  "2026-01-01T00:00:00Z,BINANCE:BTCUSDT,buy,0.01,50000,trend,a1", // 4 duplicate of line 2
  "2026-01-01T00:02:00Z,BTC/USDT,buy,-3,50000,trend,a3", // 5 negative qty
  "2026-01-01T00:03:00Z,BTC/USDT,hold,0.01,50000,trend,a4", // 6 bad side
  "", // 7 blank: skipped
  '2026-01-01T00:04:00Z,"BTC/USDT,buy,0.01,50000,trend,a5', // 8 broken quote
  "2026-01-01T00:05:00Z,BTC/USDT,buy,0.01,50000,ghost,a6", // 9 unknown strategy
  "2026-01-01T00:06:00Z,BTC/USDT,buy,0.02,50000,trend,a1", // 10 key reused: conflict
  "2026-01-01T00:07:00Z,BTC/USDT,buy,0.01,50000,trend,a7,extra,fields", // 11 too many fields
  `2026-01-01T00:08:00Z,BTC/USDT,buy,0.01,50000,trend,${"x".repeat(9000)}`, // 12 too long
  "2026-01-01T00:09:00Z,BTC/USDT,buy,0.01,50000,trend,a8", // 13 good, no final newline
];
await Deno.writeTextFile(file, rows.join("\r\n"));

Deno.test({
  name: "inbound commands",
  ...serviceTest,
  async fn(tt) {
    try {
      await tt.step("strategies add with defaults, then with options, then list", async () => {
        const a = await run(["strategies", "add", "trend"]);
        assert.equal(a.code, 0, a.err);
        assert.match(a.out, /Added strategy trend/);
        const b = await run([
          "strategies",
          "add",
          "trend",
          "--symbols",
          "BTC/USDT,eth/usdt",
          "--stop-pct",
          "1.5",
        ]);
        assert.equal(b.code, 0, b.err);
        assert.match(b.out, /Updated strategy trend/);
        const list = await run(["strategies", "list", "--json"]);
        const [s] = JSON.parse(list.out);
        assert.equal(s.name, "trend");
        assert.equal(s.symbols, "BTC/USDT,ETH/USDT");
        assert.equal(s.stop_pct, "1.5");
        assert.equal(s.take_profit_pct, "4");
        assert.equal(s.enabled, true);
        assert.equal(s.max_notional, "", "no cap prints empty");
        assert.equal(s.accounts, "default", "no subscription: the default account trades it");
        assert.deepEqual(Object.keys(s), [
          "name",
          "enabled",
          "accounts",
          "symbols",
          "risk_pct",
          "stop_pct",
          "take_profit_pct",
          "confidence_min",
          "max_notional",
          "qty_policy",
          "trail_pct",
          "trail_activation_pct",
          "tp_ladder",
        ]);
      });

      await tt.step("strategies add refuses bad values with exit code 2", async () => {
        assert.equal((await run(["strategies", "add", "x", "--risk-pct", "5"])).code, 2);
        assert.equal((await run(["strategies", "add", "bad name"])).code, 2);
        assert.equal((await run(["strategies", "add", "x", "--symbols", "BTCUSDT"])).code, 2);
        assert.equal((await run(["strategies", "add", "x", "--nope"])).code, 2);
        assert.equal((await run(["strategies", "remove", "x"])).code, 2);
      });

      await tt.step("a dry run reports without writing anything", async () => {
        const r = await run(["import-csv", file, "--dry-run"]);
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /11 rows, 3 would be accepted, 1 duplicates, 7 rejected/);
        const n = await withData((db) => db.query("select id from inbound_alerts"));
        assert.equal(n.length, 0);
      });

      await tt.step("good, duplicate and broken rows are counted with line numbers", async () => {
        const r = await run(["import-csv", file, "--source=tradingview"], true);
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /11 rows, 3 accepted, 1 duplicates, 7 rejected/);
        assert.match(r.out, /line 5: .*qty: expected a positive decimal/);
        assert.match(r.out, /line 6: .*side: expected buy or sell/);
        assert.match(r.out, /line 8: Unterminated quoted field/);
        assert.match(r.out, /line 9: Strategy "ghost" is unknown/);
        assert.match(r.out, /line 10: .*different payload/);
        assert.match(r.out, /line 11: Row has 9 fields/);
        assert.match(r.out, /line 12: Line is longer than/);
        const stored = await withData((db) =>
          db.query<{ line_no: number; status: string; source: string }>(
            "select line_no, status, source from inbound_alerts order by line_no",
          )
        );
        assert.deepEqual(
          stored.map((s) => `${s.line_no}:${s.status}`),
          [
            "2:RECEIVED",
            "3:RECEIVED",
            "4:DUPLICATE",
            "5:INVALID",
            "6:INVALID",
            "8:INVALID",
            "9:REJECTED",
            "10:REJECTED",
            "11:INVALID",
            "12:INVALID",
            "13:RECEIVED",
          ],
        );
        assert.ok(stored.every((s) => s.source === "tradingview"));
      });

      await tt.step("importing the same file again accepts nothing twice", async () => {
        const r = await run(["import-csv", file]);
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /0 accepted, 4 duplicates/);
        const [n] = await withData((db) =>
          db.query<{ n: number }>(
            "select count(*)::int8 as n from inbound_alerts where status = 'RECEIVED'",
          )
        );
        assert.equal(n.n, 3);
      });

      await tt.step("a file that cannot be read is exit code 1", async () => {
        const r = await run(["import-csv", `${dir}/missing.csv`]);
        assert.equal(r.code, 1);
        assert.match(r.err, /Cannot read/);
        const headerless = `${dir}/headerless.csv`;
        await Deno.writeTextFile(headerless, "1,2,3\n");
        assert.equal((await run(["import-csv", headerless])).code, 1);
        // A column named twice: refused whole, nothing imported, rather than its last cell taken.
        const twice = `${dir}/twice.csv`;
        await Deno.writeTextFile(
          twice,
          "ts,symbol,side,qty,price,strategy,idempotency_key,side\n" +
            "2026-01-01T00:10:00Z,BTC/USDT,sell,0.01,50000,trend,t1,buy\n",
        );
        const refused = await run(["import-csv", twice]);
        assert.equal(refused.code, 1);
        assert.match(refused.err, /names the column side more than once/);
        assert.equal(
          (await withData((db) =>
            db.query("select id from inbound_alerts where idempotency_key = 't1'")
          )).length,
          0,
        );
        assert.equal((await run(["import-csv", file, "--source=web"])).code, 2);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
      await t.close();
    }
  },
});
