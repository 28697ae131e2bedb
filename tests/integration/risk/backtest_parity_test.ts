/**
 * The backtest exits where the service does: one price path is played through the live path
 * (the fake Binance through the real ccxt client, the Execution agent with its stops on the
 * exchange, the Risk agent) and through the backtest engine as one flat candle per price, with
 * the same trailing stop and the same take-profit ladder; both give the same exits, in the same
 * order, at the same prices. Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on
 * PGlite otherwise.
 */
import assert from "node:assert/strict";
import { createBacktest, type ExitRules, type Trade } from "../../../backtest/mod.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import type { Candle } from "../../../exchange/mod.ts";
import { createRiskAgent } from "../../../risk/watch.ts";
import { upsertStrategy } from "../../../signals/strategies.ts";
import type { StrategyParams } from "../../../strategy/mod.ts";
import { parseLadder } from "../../../trading/ladder.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { testDb } from "../../helpers/db.ts";
import {
  executionSetup,
  insertAlert,
  liveExchange,
  protectedConfig,
} from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

type Exit = [Trade["reason"], number];

/**
 * The live exits of one position: the strategy's settings, an entry at the path's first price
 * with its stop, then each price in turn — the fake moves (filling what rests), the Risk agent's
 * pass, and the passes of execution and reconciliation that carry out what it handed over.
 */
async function liveExits(
  strategy: Record<string, unknown>,
  stop: string,
  path: string[],
): Promise<Exit[]> {
  const t = await testDb();
  const fake = startFakeExchange({ markets: [{ symbol: "ETHUSDT", price: path[0] }] });
  const exchange = await liveExchange(fake);
  try {
    const db = t.db;
    const agent = await executionSetup(db, exchange, {}, protectedConfig);
    const risk = createRiskAgent({ db, exchange, log: logger("test") });
    await upsertStrategy(db, "parity", strategy);
    await insertAlert(db, { symbol: "ETH/USDT", strategy: "parity", qty: "1", sl: stop });
    assert.equal((await agent.runOnce()).executed, 1);
    for (const price of path.slice(1)) {
      fake.setPrice("ETHUSDT", price);
      await risk.runOnce();
      for (let i = 0; i < 4; i++) {
        await agent.runOnce();
        await agent.reconcileOnce();
      }
    }
    return await sells(db);
  } finally {
    await exchange.close?.();
    await fake.close();
    await t.close();
  }
}

/** Each filled sell: a stop (resting or software) or a target (a slice), at its mean price. */
async function sells(db: Db): Promise<Exit[]> {
  const rows = await db.query<{ purpose: string; kind: string | null; price: string }>(
    `select o.purpose, (select r.kind from risk_actions r where r.alert_id = o.alert_id) as kind,
            (sum(e.qty * e.price) / sum(e.qty))::text as price
       from orders o join executions e on e.order_id = o.id
      where o.side = 'sell' group by o.id order by o.id`,
  );
  return rows.map((r) => [
    r.purpose === "stop_loss" || r.kind === "stop_loss" ? "stop" : "target",
    Number(r.price),
  ]);
}

const params: StrategyParams = {
  name: "parity",
  emaFast: 2,
  emaSlow: 3,
  rsiPeriod: 2,
  rsiOverbought: 90,
  rsiOversold: 10,
  stopPct: 2,
  takeProfitPct: 50,
  riskPct: 1,
  confidenceMin: 0,
};

/**
 * The backtest of the same path: a buy signal on the first candle (stop as live), entered at
 * the next candle's open, which is the same first price; then one flat candle per price.
 */
function backtestExits(exits: ExitRules, stop: number, path: string[]): Exit[] {
  let first = true;
  const bt = createBacktest({
    params,
    initialQuote: 10_000,
    feeRate: 0.001,
    stepSize: 0.0001,
    exits,
    runner: {
      onCandle: (c) => {
        if (!first) return { kind: "none" };
        first = false;
        const signal = {
          action: "buy" as const,
          candleTs: c.ts,
          entry: c.close,
          stop,
          target: c.close * 10,
          confidence: 1,
          rsi: 50,
        };
        return { kind: "signal", signal };
      },
    },
  });
  const prices = [path[0], ...path].map(Number);
  prices.forEach((p, i) => bt.feed(flat(i, p)));
  const { trades } = bt.finish();
  assert.equal(trades.length, 1);
  const [trade] = trades;
  return (trade.exits ?? [{ reason: trade.reason, price: trade.exitPrice }]).map((
    e,
  ) => [e.reason, Math.round(e.price * 1e8) / 1e8]);
}

const flat = (i: number, p: number): Candle => ({
  ts: i * 60_000,
  open: p,
  high: p,
  low: p,
  close: p,
  volume: 1,
});

Deno.test({
  ...serviceTest,
  name: "a trailing stop exits where the backtest of the same path exits",
  async fn() {
    // Up to 110.4, then down through the trailed stop (107.8) with a gap to 107.5.
    const path = ["100", "100.5", "101", "103", "106", "110", "110.4", "109", "108.5", "107.5"];
    const live = await liveExits(
      { trail_pct: "2", trail_activation_pct: "1", take_profit_pct: "50" },
      "95",
      path,
    );
    const backtest = backtestExits(
      { trailPct: 2, trailActivationPct: 1, trailStepPct: 0.5 },
      95,
      path,
    );
    assert.deepEqual(live, [["stop", 107.5]]);
    assert.deepEqual(backtest, live);
  },
});

Deno.test({
  ...serviceTest,
  name: "a ladder and its break even exit where the backtest of the same path exits",
  async fn() {
    // The first slice at 104, back down through the break-even stop (100.21 live, 100.2002 in
    // the backtest, which has no tick) with a gap to 100.1.
    const path = ["100", "102", "104", "103", "101", "100.1"];
    const ladder = "4:50,8:50";
    const live = await liveExits(
      { tp_ladder: JSON.stringify(parseLadder(ladder)) },
      "98",
      path,
    );
    const backtest = backtestExits({ ladder: parseLadder(ladder) }, 98, path);
    assert.deepEqual(live, [["target", 104], ["stop", 100.1]]);
    assert.deepEqual(backtest, live);
  },
});
