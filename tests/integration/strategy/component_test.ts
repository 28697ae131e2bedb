/**
 * The market-data and strategy part of `serve`: off unless STRATEGY_ENABLED=true, parameters
 * from the strategies table, and one tick storing candles and decisions for execution.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { fakeClock } from "../../../core/clock.ts";
import { loadConfig } from "../../../core/config.ts";
import type { TradingDecision } from "../../../trading/decision.ts";
import { startService } from "../../../service/service.ts";
import {
  type StrategyComponent,
  strategyComponent,
  type StrategyComponentOptions,
} from "../../../strategy/component.ts";
import { candleSource, TF_MS } from "../../fakes/candle_source.ts";
import type { Db } from "../../../db/db.ts";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 30);
const env = {
  HTTP_PORT: "0",
  STRATEGY_ENABLED: "true",
  STRATEGY_NAME: "wave",
  SYMBOLS: "WAVE/USDT",
  EMA_FAST: "3",
  EMA_SLOW: "8",
  RSI_PERIOD: "5",
  RSI_OVERBOUGHT: "99",
  RSI_OVERSOLD: "1",
  CONFIDENCE_MIN: "0",
};

async function start(db: Db, vars: Record<string, string>, options: StrategyComponentOptions) {
  const clock = fakeClock(new Date(T0));
  let component: StrategyComponent | undefined;
  const service = await startService(loadConfig(vars), {
    db,
    clock,
    factories: [
      async (
        ctx,
      ) => (component = await strategyComponent({ cron: false, ...options })(
        ctx,
      ) as StrategyComponent),
    ],
  });
  return { service, clock, component: component! };
}

Deno.test("strategy component", async (ctx) => {
  const t = await testDb();
  const { db } = t;
  try {
    await ctx.step("it stays off unless STRATEGY_ENABLED=true, and says so", async () => {
      const { service, component } = await start(db, { HTTP_PORT: "0" }, {
        exchange: () => Promise.reject(new Error("must not open the exchange")),
      });
      try {
        assert.match(component.describe!(), /off \(STRATEGY_ENABLED is not true\)/);
      } finally {
        await service.stop();
      }
    });

    await ctx.step("without an exchange adapter it says market data is off", async () => {
      const { service, component } = await start(db, env, {});
      try {
        assert.match(component.describe!(), /no exchange adapter/);
      } finally {
        await service.stop();
      }
    });

    await ctx.step("under serve the minute schedule is registered and stops with it", async () => {
      const clock = fakeClock(new Date(T0));
      const service = await startService(loadConfig({ ...env, SYMBOLS: "CRON/USDT" }), {
        db,
        clock,
        factories: [strategyComponent({
          exchange: (c) => Promise.resolve(candleSource(c.clock)),
          sink: () => () => Promise.resolve(),
        })],
      });
      await service.stop();
      // The run started at start-up finished before stop() resolved.
      const [{ n }] = await db.query<{ n: number }>(
        "select count(*)::int8 as n from candles where symbol = 'CRON/USDT'",
      );
      assert.equal(n, 1000);
    });

    await ctx.step("a tick stores candles and decisions reach the sink", async () => {
      const got: TradingDecision[] = [];
      const { service, component, clock } = await start(db, env, {
        exchange: (c) => Promise.resolve(candleSource(c.clock)),
        sink: () => (d) => Promise.resolve(void got.push(d)),
      });
      try {
        assert.match(component.describe!(), /candles for WAVE\/USDT at 1m/);
        assert.match(component.describe!(), /EMA 3\/8, RSI 5 1–99/);
        await component.tick();
        const [{ n }] = await db.query<{ n: number }>(
          "select count(*)::int8 as n from candles where symbol = 'WAVE/USDT'",
        );
        assert.equal(n, 1000);
        for (let i = 0; i < 120; i++) {
          clock.advance(TF_MS);
          await component.tick();
        }
        assert.ok(got.length > 0, "the wave should produce decisions");
        assert.ok(got.every((d) => d.strategy === "wave" && d.symbol === "WAVE/USDT"));
      } finally {
        await service.stop();
      }
    });

    await ctx.step("long periods keep the candles their indicators need to settle", async () => {
      // EMA 400 settles after 7 × 401 candles; with the 2 still fresh to trade: 2,809 kept.
      const { service, component } = await start(
        db,
        { ...env, SYMBOLS: "LONG/USDT", EMA_SLOW: "400" },
        {
          exchange: (c) => Promise.resolve(candleSource(c.clock)),
          sink: () => () => Promise.resolve(),
        },
      );
      try {
        await component.tick();
        const [{ n }] = await db.query<{ n: number }>(
          "select count(*)::int8 as n from candles where symbol = 'LONG/USDT'",
        );
        assert.equal(n, 2_809);
      } finally {
        await service.stop();
      }
    });

    await ctx.step(
      "the strategies row overrides config; decisions are stored for execution",
      async () => {
        await db.query(
          `insert into strategies (name, symbols, stop_pct, take_profit_pct, confidence_min, params)
         values ('rowwave', '{ROW/USDT}', 1.5, 3, 0, '{"ema_fast": 4}'::jsonb)`,
        );
        const { service, component, clock } = await start(
          db,
          { ...env, STRATEGY_NAME: "rowwave" },
          {
            exchange: (c) => Promise.resolve(candleSource(c.clock)),
          },
        );
        try {
          assert.match(component.describe!(), /candles for ROW\/USDT/);
          assert.match(component.describe!(), /"rowwave" \(strategies table\): EMA 4\/8/);
          assert.match(component.describe!(), /stop 1\.5%, target 3%/);
          await component.tick();
          for (let i = 0; i < 120; i++) {
            clock.advance(TF_MS);
            await component.tick();
          }
          const rows = await db.query<{ id: number; status: string; decision: TradingDecision }>(
            "select id, status, decision from inbound_alerts where source = 'strategy' order by id",
          );
          assert.ok(rows.length > 0);
          assert.ok(
            rows.every((r) => r.status === "RECEIVED" && r.decision.strategy === "rowwave"),
          );
          const d = rows[0].decision;
          const ratio = Math.abs(Number(d.sl) / Number(d.tp));
          // Stop 1.5 % and target 3 % on either side of the same entry.
          assert.ok(
            d.action === "buy"
              ? Math.abs(ratio - 0.985 / 1.03) < 1e-6
              : Math.abs(ratio - 1.015 / 0.97) < 1e-6,
          );
          assert.deepEqual(service.ctx.queues.decisions.drain(), rows.map((r) => r.id));
        } finally {
          await service.stop();
        }
      },
    );
  } finally {
    await t.close();
  }
});
