import assert from "node:assert/strict";
import { createBacktest } from "./engine.ts";
import { createPortfolioBacktest } from "./portfolio.ts";
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
const flat = (i: number, p: number): Candle => ({
  ts: i * 60_000,
  open: p,
  high: p,
  low: p,
  close: p,
  volume: 1,
});
// A buy at the close of the 6th candle (see engine_test.ts), then a rise to the target.
const SERIES = [10, 9, 8, 7, 8, 10, 10, 10.2, 10.5].map((p, i) => flat(i, p));
const base = { params, initialQuote: 1000, feeRate: 0.001, stepSize: 0.001 };

Deno.test("a portfolio of one symbol gives the single backtest's numbers", () => {
  const single = createBacktest(base);
  const folio = createPortfolioBacktest({ ...base, symbols: ["A/USDT"] });
  for (const c of SERIES) {
    single.feed(c);
    folio.feed("A/USDT", c);
  }
  const a = single.finish();
  const b = folio.finish();
  assert.deepEqual(b.summary, a.summary);
  assert.deepEqual(b.trades.map(({ symbol: _, ...t }) => t), a.trades);
});

Deno.test("two symbols share one balance: the second entry is sized from what the first left", () => {
  const alone = createBacktest(base);
  for (const c of SERIES) alone.feed(c);
  const aloneTrade = alone.finish().trades[0];

  const folio = createPortfolioBacktest({ ...base, symbols: ["A/USDT", "B/USDT"] });
  for (const c of SERIES) {
    folio.feed("A/USDT", c);
    folio.feed("B/USDT", c);
  }
  const { summary, trades, perSymbol } = folio.finish();
  assert.equal(trades.length, 2);
  const [a, b] = ["A/USDT", "B/USDT"].map((s) => trades.find((t) => t.symbol === s)!);
  assert.equal(a.qty, aloneTrade.qty, "the first entry sees the whole balance");
  assert.ok(b.qty < a.qty, `the second sees less: ${b.qty} vs ${a.qty}`);
  const pnl = trades.reduce((s, t) => s + t.pnlQuote, 0);
  assert.equal(summary.finalQuote, Math.round((1000 + pnl) * 100) / 100);
  assert.equal(summary.trades, 2);
  assert.equal(summary.candles, SERIES.length * 2);
  assert.equal(perSymbol["B/USDT"].trades, 1);
  assert.throws(() => folio.feed("C/USDT", SERIES[0]), /not in the portfolio/);
});

Deno.test("candles out of time order across symbols are a programmer error", () => {
  const folio = createPortfolioBacktest({ ...base, symbols: ["A/USDT", "B/USDT"] });
  folio.feed("A/USDT", SERIES[3]);
  assert.throws(() => folio.feed("B/USDT", SERIES[2]), /out of time order/);
});
