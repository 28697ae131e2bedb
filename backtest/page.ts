/**
 * The page of a backtest (`backtest --html FILE`): the report page's layout over the
 * backtest's own summary, so the page, the text summary and `--json` show the same numbers.
 * The equity curve is thinned to at most `maxPoints` evenly spaced samples (plus the last).
 */
import { num, renderPage } from "../report/mod.ts";
import type { BacktestSummary, Trade } from "./engine.ts";

export function backtestPage(o: {
  summary: BacktestSummary;
  trades: Trade[];
  /** [ts, equity] after every candle. */
  curve: Float64Array;
  source: string;
  quote: string;
  maxPoints?: number;
}): string {
  const s = o.summary;
  const points = thin(o.curve, o.maxPoints ?? 1_500);
  let peak = -Infinity;
  let maxDrawdown = 0;
  for (let i = 1; i < o.curve.length; i += 2) {
    peak = Math.max(peak, o.curve[i]);
    maxDrawdown = Math.max(maxDrawdown, peak - o.curve[i]);
  }
  const iso = (ms?: number) => (ms === undefined ? "" : new Date(ms).toISOString());
  return renderPage({
    title: `Backtest of "${s.strategy}"`,
    subtitle: `${o.source} · ${s.candles} candles · ${iso(s.firstTs).slice(0, 16)} to ${
      iso(s.lastTs).slice(0, 16)
    } UTC · slippage ${s.slippageBps} bps`,
    snapshot: {
      quote: o.quote,
      metrics: {
        startEquity: s.initialQuote,
        endEquity: s.finalQuote,
        returnPct: s.returnPct,
        realizedPnl: s.pnlQuote,
        fees: s.feesQuote,
        fills: o.trades.length * 2,
        trades: s.trades,
        wins: s.wins,
        losses: s.losses,
        winRatePct: s.winRatePct,
        avgWin: s.avgWinQuote,
        avgLoss: s.avgLossQuote,
        profitFactor: s.profitFactor,
        maxDrawdown: Math.round(maxDrawdown * 100) / 100,
        maxDrawdownPct: s.maxDrawdownPct,
        exposurePct: s.exposurePct,
      },
      curve: points,
      trades: o.trades.map((t) => ({
        symbol: o.source,
        strategy: s.strategy,
        openedAt: iso(t.entryTs),
        closedAt: iso(t.exitTs),
        qty: t.qty,
        pnl: t.pnlQuote,
        fees: t.feeQuote,
      })),
      bySymbol: [],
      byStrategy: [],
    },
    extra: [
      ["sharpe", "Sharpe (annualised)", num(s.sharpe, 3)],
      ["sortino", "Sortino (annualised)", num(s.sortino, 3)],
      ["expectancyQuote", "Expectancy per trade", `${num(s.expectancyQuote)} ${o.quote}`],
      ["signals", "Signals", `${s.signals} (${s.dropped} dropped, ${s.skipped} not sized)`],
    ],
  });
}

function thin(curve: Float64Array, maxPoints: number): { t: string; equity: number }[] {
  const n = curve.length / 2;
  if (n === 0) return [];
  const step = Math.max(1, Math.ceil(n / maxPoints));
  const out: { t: string; equity: number }[] = [];
  for (let i = 0; i < n; i += step) {
    out.push({ t: new Date(curve[2 * i]).toISOString(), equity: curve[2 * i + 1] });
  }
  if ((n - 1) % step !== 0) {
    out.push({ t: new Date(curve[2 * n - 2]).toISOString(), equity: curve[2 * n - 1] });
  }
  return out;
}
