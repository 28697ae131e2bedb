/**
 * Several symbols on one shared balance (`backtest --symbols A,B`): one backtest per symbol, all
 * sizing from and booking into the same cash, fed in time order. The portfolio's equity is the
 * cash plus every open position at its last close, sampled once per distinct time; drawdown,
 * Sharpe, Sortino and exposure come from that curve, the trades from every symbol.
 */
import type { Candle } from "../exchange/mod.ts";
import {
  type BacktestOptions,
  type BacktestSummary,
  createBacktest,
  type EquityStats,
  summarize,
  type Trade,
} from "./engine.ts";

export interface PortfolioTrade extends Trade {
  symbol: string;
}

export interface Portfolio {
  /** One candle of one symbol; candles must come in time order across symbols. */
  feed(symbol: string, candle: Candle): void;
  finish(): {
    summary: BacktestSummary;
    trades: PortfolioTrade[];
    perSymbol: Record<string, BacktestSummary>;
  };
}

export function createPortfolioBacktest(
  options: Omit<BacktestOptions, "wallet"> & { symbols: string[] },
): Portfolio {
  const wallet = { cash: options.initialQuote };
  const engines = new Map(
    options.symbols.map((s) => [s, createBacktest({ ...options, wallet, onEquity: undefined })]),
  );
  const stats: EquityStats = { maxDrawdown: 0, n: 0, sumR: 0, sumR2: 0, sumDown2: 0, held: 0 };
  let peak = wallet.cash;
  let prevEquity = wallet.cash;
  let steps = 0;
  let candles = 0;
  let firstTs: number | undefined;
  let lastTs: number | undefined;

  const mark = (ts: number) => {
    let positions = 0;
    for (const e of engines.values()) positions += e.positionValue();
    const equity = wallet.cash + positions;
    steps++;
    if (positions > 0) stats.held++;
    if (prevEquity > 0) {
      const r = equity / prevEquity - 1;
      stats.n++;
      stats.sumR += r;
      stats.sumR2 += r * r;
      if (r < 0) stats.sumDown2 += r * r;
    }
    prevEquity = equity;
    if (equity > peak) peak = equity;
    else if ((peak - equity) / peak > stats.maxDrawdown) {
      stats.maxDrawdown = (peak - equity) / peak;
    }
    options.onEquity?.(ts, equity);
  };

  return {
    feed(symbol, candle) {
      const engine = engines.get(symbol);
      if (!engine) throw new Error(`Assertion failed: ${symbol} is not in the portfolio`);
      if (lastTs !== undefined && candle.ts < lastTs) {
        throw new Error(`Assertion failed: candles out of time order (${symbol})`);
      }
      if (lastTs !== undefined && candle.ts !== lastTs) mark(lastTs);
      firstTs ??= candle.ts;
      lastTs = candle.ts;
      candles++;
      engine.feed(candle);
    },
    finish() {
      if (lastTs !== undefined) mark(lastTs);
      const perSymbol: Record<string, BacktestSummary> = {};
      const trades: PortfolioTrade[] = [];
      let signals = 0, dropped = 0, skipped = 0;
      for (const [symbol, e] of engines) {
        const r = e.finish(); // closes an open position into the shared cash
        perSymbol[symbol] = r.summary;
        signals += r.summary.signals;
        dropped += r.summary.dropped;
        skipped += r.summary.skipped;
        trades.push(...r.trades.map((t) => ({ ...t, symbol })));
      }
      trades.sort((a, b) => a.exitTs - b.exitTs);
      const feesQuote = trades.reduce((a, t) => a + t.feeQuote, 0);
      const summary = summarize({
        strategy: options.params.name,
        candles,
        firstTs,
        lastTs,
        steps,
        signals,
        dropped,
        skipped,
        trades,
        feesQuote,
        initialQuote: options.initialQuote,
        finalQuote: wallet.cash,
        slippageBps: options.slippageBps ?? 0,
        stats,
      });
      return { summary, trades, perSymbol };
    },
  };
}
