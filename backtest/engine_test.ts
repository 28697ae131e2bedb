import assert from "node:assert/strict";
import { createBacktest, type ExitRules } from "./engine.ts";
import { parseLadder } from "../trading/ladder.ts";
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

// Trailing stop and take-profit ladder. The target is set out of reach (50 %) where a test is
// about the stop alone. Entry 50 units at 10 (candle 6's open), stop 9.8.
function runExits(after: Candle[], exits: ExitRules, takeProfitPct = 50) {
  const bt = createBacktest({
    params: { ...params, takeProfitPct },
    initialQuote: 1000,
    feeRate: 0.001,
    stepSize: 0.001,
    exits,
  });
  for (const c of [...SIGNAL, ...after]) bt.feed(c);
  return bt.finish();
}
const near = (a: number, b: number) => Math.abs(a - b) < 1e-9;
const trail2 = { trailPct: 2, trailActivationPct: 0, trailStepPct: 0.5 };

// Up to 10.6, then down: the stop trails 9.996 (after 10.2), 10.388 (after 10.6), then stays.
const RISE_THEN_FALL = [
  at(6, { open: 10, high: 10.2, low: 9.9, close: 10.2 }),
  // The low 10.0 is under the 10.388 this candle's high asks for: not taken, the high may have
  // come after the low.
  at(7, { open: 10.2, high: 10.6, low: 10.0, close: 10.5 }),
  at(8, { open: 10.5, high: 10.55, low: 10.4, close: 10.45 }),
  at(9, { open: 10.45, high: 10.45, low: 10.3, close: 10.3 }),
  at(10, { open: 10.3, high: 10.7, low: 9.9, close: 10 }),
];

Deno.test("the trail only moves the stop up, from the next candle, and exits once", () => {
  const { trades, summary } = runExits(RISE_THEN_FALL, trail2);
  assert.equal(trades.length, 1);
  const [t] = trades;
  assert.equal(t.reason, "stop");
  assert.equal(t.exitTs, 9 * 60_000);
  assert.ok(near(t.exitPrice, 10.6 * 0.98), String(t.exitPrice));
  assert.equal(t.exits, undefined);
  assert.equal(summary.exitFills, 1);
  // The fixed stop alone never exits on this path: the position is closed at the end.
  const fixed = runExits(RISE_THEN_FALL, {});
  assert.deepEqual([fixed.trades[0].reason, fixed.trades[0].exitPrice], ["end", 10]);
});

Deno.test("the trail waits for its activation", () => {
  const path = [
    at(6, { open: 10, high: 10.2, low: 9.9, close: 10.2 }),
    at(7, { open: 10.2, high: 10.4, low: 10.1, close: 10.3 }),
    at(8, { open: 10.3, high: 10.6, low: 10.15, close: 10.5 }),
    at(9, { open: 10.45, high: 10.45, low: 10.3, close: 10.3 }),
  ];
  // Active at once: 9.996, then 10.192 after 10.4, taken by candle 8's low 10.15.
  const now = runExits(path, trail2).trades[0];
  assert.equal(now.exitTs, 8 * 60_000);
  assert.ok(near(now.exitPrice, 10.4 * 0.98), String(now.exitPrice));
  // From +5 % (10.5) only: the stop stays 9.8 until candle 8's high 10.6 moves it to 10.388.
  const later = runExits(path, { ...trail2, trailActivationPct: 5 }).trades[0];
  assert.equal(later.exitTs, 9 * 60_000);
  assert.ok(near(later.exitPrice, 10.6 * 0.98), String(later.exitPrice));
});

Deno.test("the step keeps the stop where it is for a small move", () => {
  const path = [
    at(6, { open: 10, high: 10.2, low: 9.9, close: 10.2 }),
    // 10.24 × 0.98 = 10.0352: 0.39 % above 9.996, under the 0.5 % step.
    at(7, { open: 10.2, high: 10.24, low: 10.1, close: 10.2 }),
    at(8, { open: 10.2, high: 10.2, low: 10.0, close: 10.05 }),
  ];
  const stepped = runExits(path, trail2).trades[0];
  assert.deepEqual([stepped.reason, stepped.exitPrice], ["end", 10.05]);
  const every = runExits(path, { ...trail2, trailStepPct: 0 }).trades[0];
  assert.equal(every.reason, "stop");
  assert.equal(every.exitTs, 8 * 60_000);
  assert.ok(near(every.exitPrice, 10.24 * 0.98), String(every.exitPrice));
});

Deno.test("a gap below a trailed stop fills at the open", () => {
  const path = [
    ...RISE_THEN_FALL.slice(0, 2),
    at(8, { open: 10, high: 10.1, low: 9.9, close: 10 }),
  ];
  const [t] = runExits(path, trail2).trades;
  assert.deepEqual([t.reason, t.exitPrice, t.exitTs], ["stop", 10, 8 * 60_000]);
});

const LADDER = parseLadder("2:50,4:50"); // 25 at 10.2, 25 at 10.4

Deno.test("a candle through both the stop and the ladder's slices exits at the stop", () => {
  const { trades } = runExits(
    [at(6, { open: 10, high: 10.5, low: 9.7, close: 10 })],
    { ladder: LADDER },
  );
  assert.equal(trades.length, 1);
  assert.deepEqual([trades[0].reason, trades[0].exitPrice, trades[0].qty], ["stop", 9.8, 50]);
  assert.equal(trades[0].exits, undefined);
});

Deno.test("the ladder fills each slice once, the last sells the rest: one round trip", () => {
  const { trades, summary } = runExits([
    at(6, { open: 10, high: 10.25, low: 9.9, close: 10.1 }),
    // 10.3 reaches the first slice again: it does not sell twice.
    at(7, { open: 10.1, high: 10.3, low: 10.05, close: 10.2 }),
    at(8, { open: 10.2, high: 10.5, low: 10.1, close: 10.45 }),
  ], { ladder: LADDER });
  assert.equal(trades.length, 1);
  const [t] = trades;
  assert.deepEqual(
    t.exits!.map((e) => [e.ts, e.price, e.qty, e.reason]),
    [[6 * 60_000, 10.2, 25, "target"], [8 * 60_000, 10.4, 25, "target"]],
  );
  assert.deepEqual([t.reason, t.qty, t.exitTs], ["target", 50, 8 * 60_000]);
  assert.ok(near(t.exitPrice, 10.3));
  // 255 + 260 sold, 0.515 in exit fees, 500.5 paid: 13.985.
  assert.ok(near(t.pnlQuote, 13.985), String(t.pnlQuote));
  assert.ok(near(t.feeQuote, 1.015));
  assert.deepEqual([summary.trades, summary.exitFills, summary.wins], [1, 2, 1]);
  assert.equal(summary.finalQuote, 1013.99);
});

Deno.test("after a slice the stop is break even from the next candle on", () => {
  const path = [
    at(6, { open: 10, high: 10.25, low: 9.9, close: 10.1 }),
    at(7, { open: 10.1, high: 10.15, low: 10.0, close: 10.05 }),
  ];
  // Without the ladder the stop stays 9.8 and the low 10.0 does not take it.
  assert.equal(runExits(path, {}).trades[0].reason, "end");
  const [t] = runExits(path, { ladder: LADDER }).trades;
  // Break even: 10 × 1.001 / 0.999 = 10.02002…; the rest sold there nets what it cost.
  const even = 10 * 1.001 / 0.999;
  assert.deepEqual([t.reason, t.exitTs, t.exits!.length], ["stop", 7 * 60_000, 2]);
  assert.ok(Math.abs(t.exits![1].price - even) < 1e-9, String(t.exits![1].price));
  // Only the first slice earns: 255 − 0.255 − 250.25.
  assert.ok(Math.abs(t.pnlQuote - 4.495) < 1e-6, String(t.pnlQuote));
});

Deno.test("slices below the market's minimums join the next; an unsellable ladder skips", () => {
  const path = [at(6, { open: 10, high: 10.5, low: 10, close: 10.45 })];
  // 25 at 10.2 = 255, under 300: everything sells at 10.4.
  const merged = runExits(path, { ladder: LADDER, minNotional: 300 }).trades[0];
  assert.deepEqual([merged.reason, merged.exitPrice, merged.qty], ["target", 10.4, 50]);
  assert.equal(merged.exits, undefined);
  const refused = runExits(path, { ladder: LADDER, minNotional: 1000 });
  assert.deepEqual([refused.trades.length, refused.summary.skipped], [0, 1]);
});
