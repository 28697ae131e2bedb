/** Strategy parameters: config by default, the strategies row when there is one. */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { loadConfig } from "../../../core/config.ts";
import { ConfigError } from "../../../core/errors.ts";
import { loadStrategy } from "../../../strategy/params.ts";

Deno.test("strategy parameters come from config, overridden by the strategies row", async (ctx) => {
  const t = await testDb();
  const { db } = t;
  const config = loadConfig({ SYMBOLS: "BTC/USDT,ETH/USDT", RISK_PER_TRADE_PCT: "1.5" });
  try {
    await ctx.step("without a row, config is used as is", async () => {
      const r = await loadStrategy(db, config);
      assert.equal(r.source, "config");
      assert.deepEqual(r.symbols, ["BTC/USDT", "ETH/USDT"]);
      assert.deepEqual(
        [r.params.name, r.params.emaFast, r.params.emaSlow, r.params.rsiPeriod],
        ["ema_rsi", 12, 26, 14],
      );
      assert.deepEqual(
        [r.params.stopPct, r.params.takeProfitPct, r.params.confidenceMin, r.params.riskPct],
        [2, 4, 0.5, 1.5],
      );
    });

    await ctx.step("a row overrides columns and params, its risk included", async () => {
      await db.query(
        `insert into strategies (name, enabled, symbols, risk_pct, stop_pct, take_profit_pct,
                                 confidence_min, max_notional, params)
         values ('ema_rsi', false, '{SOL/USDT}', 3, 1.25, 6, 0.2, 500,
                 '{"ema_fast": 9, "ema_slow": 21, "rsi_oversold": 25}'::jsonb)`,
      );
      const r = await loadStrategy(db, config);
      assert.equal(r.source, "strategies table");
      assert.equal(r.enabled, false);
      assert.deepEqual(r.symbols, ["SOL/USDT"]);
      assert.deepEqual(r.params, {
        name: "ema_rsi",
        emaFast: 9,
        emaSlow: 21,
        rsiPeriod: 14,
        rsiOverbought: 70,
        rsiOversold: 25,
        stopPct: 1.25,
        takeProfitPct: 6,
        confidenceMin: 0.2,
        riskPct: 3,
        maxNotionalQuote: 500,
      });
    });

    await ctx.step("malformed params are a configuration error that names the fix", async () => {
      await db.query(
        `insert into strategies (name, params) values ('bad', '{"ema_fast": "nine"}'::jsonb),
                ('crossed', '{"ema_fast": 30, "ema_slow": 20}'::jsonb)`,
      );
      await assert.rejects(
        () => loadStrategy(db, config, "bad"),
        (e) =>
          e instanceof ConfigError &&
          /Strategy "bad" has invalid params .*ema_fast/.test(e.message),
      );
      await assert.rejects(
        () => loadStrategy(db, config, "crossed"),
        (e) => e instanceof ConfigError && /ema_fast 30 not below ema_slow 20/.test(e.message),
      );
    });
  } finally {
    await t.close();
  }
});
