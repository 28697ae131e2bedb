import assert from "node:assert/strict";
import { createBacktest } from "./engine.ts";
import type { StrategyParams } from "../strategy/rule.ts";
import type { Candle } from "../exchange/port.ts";

const params: StrategyParams = {
  name: "t",
  emaFast: 2,
  emaSlow: 3,
  rsiPeriod: 2,
  rsiOverbought: 90,
  rsiOversold: 10,
  stopPct: 2,
  takeProfitPct: 4,
  confidenceMin: 0.1,
  riskPct: 1,
};

const flat = (ts: number, p: number): Candle => ({
  ts,
  open: p,
  high: p,
  low: p,
  close: p,
  volume: 1,
});
// Closes 10 9 8 7 8 10: a buy signal at the close of the sixth candle (see rule_test.ts), with
// stop 9.8 and target 10.4. Sizing: 1 % of 1000 = 10 risked over 0.2 → 50 units.
const SIGNAL = [10, 9, 8, 7, 8, 10].map((p, i) => flat(i * 60_000, p));
const at = (i: number, c: Omit<Candle, "ts" | "volume">): Candle => ({
  ts: i * 60_000,
  volume: 1,
  ...c,
});

function runWith(after: Candle[]) {
  const equity: number[] = [];
  const bt = createBacktest({
    params,
    initialQuote: 1000,
    feeRate: 0.001,
    stepSize: 0.001,
    onEquity: (_, e) => equity.push(e),
  });
  for (const c of [...SIGNAL, ...after]) bt.feed(c);
  return { ...bt.finish(), equity };
}

Deno.test("a signal fills at the next open with the fee and exits at the target", () => {
  const { summary, trades } = runWith([at(6, { open: 10, high: 10.5, low: 10, close: 10.45 })]);
  assert.equal(trades.length, 1);
  const t = trades[0];
  assert.deepEqual(
    [t.entryPrice, t.exitPrice, t.qty, t.reason, t.entryTs, t.exitTs],
    [10, 10.4, 50, "target", 360_000, 360_000],
  );
  // Cost 500 + fee 0.5; proceeds 520 − fee 0.52: net 18.98.
  assert.ok(Math.abs(t.feeQuote - 1.02) < 1e-9);
  assert.ok(Math.abs(t.pnlQuote - 18.98) < 1e-9);
  assert.equal(summary.trades, 1);
  assert.equal(summary.wins, 1);
  assert.equal(summary.winRatePct, 100);
  assert.equal(summary.pnlQuote, 18.98);
  assert.equal(summary.feesQuote, 1.02);
  assert.equal(summary.returnPct, 1.9);
  assert.equal(summary.finalQuote, 1018.98);
});

Deno.test("when stop and target are both inside one candle the stop is taken", () => {
  const { summary, trades } = runWith([at(6, { open: 10, high: 10.5, low: 9.7, close: 10 })]);
  assert.equal(trades[0].reason, "stop");
  assert.equal(trades[0].exitPrice, 9.8);
  // 490 − 0.49 − 500.5 = −10.99; the drawdown is that loss over the 1000 peak.
  assert.ok(Math.abs(trades[0].pnlQuote + 10.99) < 1e-9);
  assert.equal(summary.losses, 1);
  assert.equal(summary.winRatePct, 0);
  assert.equal(summary.maxDrawdownPct, 1.1);
});

Deno.test("a gap through the stop fills at the open, not at the stop", () => {
  const { trades } = runWith([
    at(6, { open: 10, high: 10.1, low: 9.95, close: 10 }),
    at(7, { open: 9.6, high: 9.7, low: 9.5, close: 9.55 }),
  ]);
  assert.equal(trades[0].reason, "stop");
  assert.equal(trades[0].exitPrice, 9.6);
  assert.equal(trades[0].exitTs, 420_000);
});

Deno.test("an entry whose open gapped below the stop is not sized", () => {
  const { summary, trades } = runWith([at(6, { open: 9.5, high: 9.6, low: 9.4, close: 9.5 })]);
  assert.equal(trades.length, 0);
  assert.equal(summary.skipped, 1);
  assert.equal(summary.finalQuote, 1000);
});

Deno.test("an open position is closed at the last close and the equity curve is marked", () => {
  const { trades, equity } = runWith([at(6, { open: 10, high: 10.2, low: 9.9, close: 10.1 })]);
  assert.equal(trades[0].reason, "end");
  assert.equal(trades[0].exitPrice, 10.1);
  assert.equal(equity.length, 7);
  // Cash 1000 − 500.5, plus 50 × 10.1 marked at the close.
  assert.ok(Math.abs(equity[6] - 1004.5) < 1e-9);
});

Deno.test("slippage fills buys above and sells below the price, and costs exactly that", () => {
  const after = [at(6, { open: 10, high: 10.2, low: 10, close: 10.1 })];
  const run = (slippageBps: number) => {
    const bt = createBacktest({
      params,
      initialQuote: 1000,
      feeRate: 0,
      stepSize: 0.001,
      slippageBps,
    });
    for (const c of [...SIGNAL, ...after]) bt.feed(c);
    return bt.finish();
  };
  const none = run(0);
  const slipped = run(50); // 0.5 %
  assert.equal(none.trades.length, 1);
  assert.equal(slipped.trades.length, 1);
  const [a] = none.trades;
  const [b] = slipped.trades;
  // Entry at the next open 10 → 10.05; the position is closed at the end (close 10.1) → 10.0495.
  assert.equal(a.entryPrice, 10);
  assert.ok(Math.abs(b.entryPrice - 10.05) < 1e-12);
  assert.ok(Math.abs(b.exitPrice - 10.1 * 0.995) < 1e-12);
  // Sizing sees the slipped entry: 1 % of 1000 over (10.05 − 9.8) → 40 units (vs 50).
  assert.equal(a.qty, 50);
  assert.equal(b.qty, 40);
  assert.ok(Math.abs(a.pnlQuote - 50 * (10.1 - 10)) < 1e-9);
  assert.ok(Math.abs(b.pnlQuote - 40 * (10.1 * 0.995 - 10.05)) < 1e-9);
  assert.equal(slipped.summary.slippageBps, 50);
});

Deno.test("the summary carries profit factor, expectancy, exposure, Sharpe and Sortino", () => {
  const { summary, trades } = runWith([
    at(6, { open: 10, high: 10.05, low: 9.95, close: 10 }),
    at(7, { open: 10, high: 10.05, low: 9.9, close: 9.95 }),
  ]);
  assert.equal(trades.length, 1);
  assert.ok(trades[0].pnlQuote < 0);
  assert.equal(summary.profitFactor, 0, "nothing won, something lost");
  assert.equal(summary.expectancyQuote, Math.round(trades[0].pnlQuote * 100) / 100);
  // Held from candle 6 to the end: 2 of 8 candles.
  assert.equal(summary.exposurePct, 25);
  assert.ok(summary.sharpe !== null && summary.sortino !== null);
  assert.ok(summary.sharpe! < 0, "a falling position gives a negative Sharpe");
});
