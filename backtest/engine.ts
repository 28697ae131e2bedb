/**
 * The backtest: the live strategy runner, the shared sizing function and paper fills, one
 * candle at a time (so a CSV or a table can be streamed through it). Long only, spot, no
 * leverage. A signal at a candle's close is filled at the next candle's open (what a market
 * order right after the close gets), with the taker fee on both sides. Stop and target are
 * checked against every candle's low and high; when both are inside one candle the stop is
 * assumed first (the pessimistic reading), and a gap through a level fills at the open.
 *
 * The trailing stop and the take-profit ladder are the live rules (trading/trail.ts,
 * trading/ladder.ts), applied per candle in this order: (a) the stop as it stood at the open
 * against the low; (b) the ladder's slices (or the single target) against the high, lowest
 * first; (c) the high raises the high-water price and the trail, and a filled slice moves the
 * stop to break even, both effective from the next candle: within one candle we do not know
 * whether the high came before the low, so the stop is never raised by the candle that made it.
 */
import { sizePosition } from "../trading/sizing.ts";
import { DEFAULT_TRAIL_STEP_PCT, trailedStop, type TrailSpec } from "../trading/trail.ts";
import { breakevenStop, type LadderLevel, planLadder } from "../trading/ladder.ts";
import { numberToDecimal } from "../trading/decimal.ts";
import type { Candle } from "../exchange/mod.ts";
import type { RuleOutcome, StrategyParams } from "../strategy/mod.ts";
import { createRunner } from "../strategy/mod.ts";

export interface BacktestOptions {
  params: StrategyParams;
  /** Starting cash, quote asset. */
  initialQuote: number;
  /** Taker fee as a fraction (0.001 = 0.1 %). */
  feeRate: number;
  /** Quantity step for sizing; absent → no truncation. */
  stepSize?: number;
  /**
   * Slippage in basis points, against the trader on every fill: buys fill that much above the
   * price, sells (signal, stop, target, end) that much below it.
   */
  slippageBps?: number;
  /** Called with the marked-to-market equity after every candle (equity curve). */
  onEquity?: (ts: number, equityQuote: number) => void;
  /**
   * The account's cash, shared by several backtests of one portfolio (`backtest --symbols`):
   * each sizes from and books into the same balance. Default: its own, `initialQuote`.
   */
  wallet?: { cash: number };
  /** The strategy's runner; by default the live one (sweeps pass one over shared series). */
  runner?: { onCandle(candle: { ts: number; close: number }): RuleOutcome };
  /** Trailing stop and take-profit ladder; none by default (a fixed stop and one target). */
  exits?: ExitRules;
}

/**
 * How a position exits besides its fixed stop and target: the live strategy's trail and
 * ladder. The backtest knows no exchange's market rules: a slice's quantity is truncated to
 * `stepSize` (the sizing step) and checked against `minQty` / `minNotional` only when given.
 */
export interface ExitRules {
  /** Trailing distance (%) below the high since entry; 0 < trailPct < 100. */
  trailPct?: number;
  /** How far (%) above the entry the high must be before the stop trails (default 0). */
  trailActivationPct?: number;
  /** The smallest move (%) of the stop (default DEFAULT_TRAIL_STEP_PCT). */
  trailStepPct?: number;
  /** Take-profit slices instead of the single target; after the first fills, break even. */
  ladder?: LadderLevel[];
  minQty?: number;
  minNotional?: number;
}

export type ExitReason = "stop" | "target" | "signal" | "end";

/** One sell of a round trip that a ladder closed in parts. */
export interface TradeExit {
  ts: number;
  price: number;
  qty: number;
  feeQuote: number;
  reason: ExitReason;
}

export interface Trade {
  entryTs: number;
  exitTs: number;
  entryPrice: number;
  exitPrice: number;
  qty: number;
  /** Entry and exit fees, quote. */
  feeQuote: number;
  /** Net of fees, quote. */
  pnlQuote: number;
  /** The last exit's reason. */
  reason: ExitReason;
  /**
   * The sells, when the position was closed in parts (a ladder's slices, then the rest);
   * `exitPrice` is then their quantity-weighted mean and `qty` the whole entry.
   */
  exits?: TradeExit[];
}

export interface BacktestSummary {
  strategy: string;
  candles: number;
  firstTs?: number;
  lastTs?: number;
  signals: number;
  /** Signals dropped by the RSI filter, the stop check or the confidence floor. */
  dropped: number;
  /** Entries the sizing or the ladder refused (e.g. the open gapped below the stop). */
  skipped: number;
  /** Round trips: entries closed, in one sell or in several (see `exitFills`). */
  trades: number;
  /** Sells that closed the trades: one per trade, more with a take-profit ladder. */
  exitFills: number;
  wins: number;
  losses: number;
  winRatePct: number;
  pnlQuote: number;
  feesQuote: number;
  maxDrawdownPct: number;
  returnPct: number;
  initialQuote: number;
  finalQuote: number;
  slippageBps: number;
  /** Gross wins / gross losses; null without a losing trade. */
  profitFactor: number | null;
  /** Mean PnL of the winning and of the losing trades, quote; null without such trades. */
  avgWinQuote: number | null;
  avgLossQuote: number | null;
  /** Mean PnL per trade, quote; null without trades. */
  expectancyQuote: number | null;
  /** Share of candles with a position open, percent. */
  exposurePct: number;
  /** Per-candle equity returns, annualised by the candles' spacing; null when flat. */
  sharpe: number | null;
  sortino: number | null;
}

export interface Backtest {
  feed(candle: Candle): void;
  /** The open position's value at the last close, quote (0 when flat). */
  positionValue(): number;
  /** Closes an open position at the last close and returns the summary. */
  finish(): { summary: BacktestSummary; trades: Trade[] };
}

interface Position {
  /** What is still held. */
  qty: number;
  entryPrice: number;
  entryTs: number;
  entryFeeQuote: number;
  /** The stop as it stands at the next candle's open. */
  stop: number;
  target: number;
  /** Highest price since entry (from the entry price on). */
  high: number;
  /** Whether the trail rule has seen this position's high yet. */
  trailAsked: boolean;
  /** The ladder's slice prices and quantities, and the next slice to fill. */
  slicePrice?: Float64Array;
  sliceQty?: Float64Array;
  nextSlice: number;
  /** The stop once the first slice filled (NaN without a ladder). */
  breakeven: number;
  /** The sells so far, when the position is closed in parts. */
  sold?: TradeExit[];
}

// Longer than ~80 lines: one closure over the simulated account; feed() is the per-candle hot path, kept in one place for speed.
export function createBacktest(options: BacktestOptions): Backtest {
  const { params, feeRate } = options;
  const runner = options.runner ?? createRunner(params);
  const trades: Trade[] = [];
  const wallet = options.wallet ?? { cash: options.initialQuote };
  let pos: Position | undefined;
  let pending: { action: "buy" | "sell"; stop: number; target: number } | undefined;
  let candles = 0, signals = 0, dropped = 0, skipped = 0, fees = 0;
  let firstTs: number | undefined, last: Candle | undefined;
  let peak = wallet.cash, maxDrawdown = 0;
  const slip = (options.slippageBps ?? 0) / 10_000;
  const buyPrice = (p: number) => p * (1 + slip);
  const sellPrice = (p: number) => p * (1 - slip);
  // Running sums of per-candle returns for Sharpe and Sortino, and the candles held.
  let prevEquity = wallet.cash, n = 0, sumR = 0, sumR2 = 0, sumDown2 = 0, held = 0;
  const trail = trailSpec(options.exits);
  const ladder = options.exits?.ladder?.length ? options.exits.ladder : undefined;
  // Off (no trail, no ladder), a candle costs one test of this constant more than before.
  const managed = trail !== undefined || ladder !== undefined;

  const exit = (ts: number, marketPrice: number, reason: ExitReason) => {
    const p = pos!;
    const price = sellPrice(marketPrice);
    const proceeds = p.qty * price;
    const fee = proceeds * feeRate;
    wallet.cash += proceeds - fee;
    fees += fee;
    pos = undefined;
    if (p.sold) {
      p.sold.push({ ts, price, qty: p.qty, feeQuote: fee, reason });
      trades.push(roundTrip(p, ts, reason));
      return;
    }
    const cost = p.qty * p.entryPrice + p.entryFeeQuote;
    trades.push({
      entryTs: p.entryTs,
      exitTs: ts,
      entryPrice: p.entryPrice,
      exitPrice: price,
      qty: p.qty,
      feeQuote: p.entryFeeQuote + fee,
      pnlQuote: proceeds - fee - cost,
      reason,
    });
  };

  /** Sells one slice of the ladder that leaves a remainder (the last slice is an exit). */
  const sellSlice = (ts: number, marketPrice: number, qty: number) => {
    const p = pos!;
    const price = sellPrice(marketPrice);
    const proceeds = qty * price;
    const fee = proceeds * feeRate;
    wallet.cash += proceeds - fee;
    fees += fee;
    p.qty -= qty;
    (p.sold ??= []).push({ ts, price, qty, feeQuote: fee, reason: "target" });
  };

  /** (b) with a ladder: the slices the high reached, lowest first, each once. */
  const fillSlices = (c: Candle, prices: Float64Array, qtys: Float64Array) => {
    const p = pos!;
    const lastSlice = prices.length - 1;
    while (p.nextSlice <= lastSlice && c.high >= prices[p.nextSlice]) {
      const i = p.nextSlice++;
      const at = Math.max(prices[i], c.open);
      // The last slice sells everything still held.
      if (i === lastSlice) return exit(c.ts, at, "target");
      sellSlice(c.ts, at, qtys[i]);
    }
  };

  /** (c) the stop for the next candle: break even after a slice, then the trail from the high. */
  const raiseStop = (c: Candle, p: Position) => {
    if (p.nextSlice > 0 && p.breakeven > p.stop) p.stop = p.breakeven;
    if (!trail) return;
    // Without a new high the rule answers as it did for the last one (the stop it set then, or
    // a higher one, is not below its candidate), so it is asked again only after a new high.
    if (c.high > p.high) p.high = c.high;
    else if (p.trailAsked) return;
    p.trailAsked = true;
    const moved = trailedStop(p.entryPrice, p.high, p.stop, trail);
    if (moved !== undefined && moved > p.stop) p.stop = moved;
  };

  const enter = (c: Candle, stop: number, target: number) => {
    const entryPrice = buyPrice(c.open);
    const sized = sizePosition({
      equityQuote: wallet.cash,
      freeQuote: wallet.cash,
      riskPct: params.riskPct,
      entryPrice,
      stopPrice: stop,
      stepSize: options.stepSize,
      maxNotionalQuote: params.maxNotionalQuote,
      feeRate,
    });
    const slices = sized.ok && ladder
      ? planSlices(ladder, entryPrice, sized.qty, stop, options)
      : undefined;
    if (!sized.ok || (ladder && !slices)) {
      skipped++;
      return;
    }
    const qty = Number(sized.qty);
    const fee = qty * entryPrice * feeRate;
    wallet.cash -= qty * entryPrice + fee;
    fees += fee;
    pos = {
      qty,
      entryPrice,
      entryTs: c.ts,
      entryFeeQuote: fee,
      stop,
      target,
      high: entryPrice,
      trailAsked: false,
      slicePrice: slices?.price,
      sliceQty: slices?.qty,
      nextSlice: 0,
      breakeven: slices ? Number(breakevenStop(numberToDecimal(entryPrice), String(feeRate))) : NaN,
      sold: undefined,
    };
  };

  return {
    feed(c) {
      candles++;
      firstTs ??= c.ts;
      if (pending) {
        if (pending.action === "buy" && !pos) enter(c, pending.stop, pending.target);
        else if (pending.action === "sell" && pos) exit(c.ts, c.open, "signal");
        pending = undefined;
      }
      if (pos) {
        // (a) the stop first, as it stood at the open; a gap below it fills at the open.
        if (c.low <= pos.stop) exit(c.ts, Math.min(pos.stop, c.open), "stop");
        else if (pos.slicePrice) fillSlices(c, pos.slicePrice, pos.sliceQty!);
        else if (c.high >= pos.target) exit(c.ts, Math.max(pos.target, c.open), "target");
        if (managed && pos) raiseStop(c, pos);
      }
      const outcome = runner.onCandle(c);
      if (outcome.kind === "signal") {
        signals++;
        const s = outcome.signal;
        if ((s.action === "buy" && !pos) || (s.action === "sell" && pos)) {
          pending = { action: s.action, stop: s.stop, target: s.target };
        }
      } else if (outcome.kind === "dropped") {
        dropped++;
      }
      const cash = wallet.cash;
      const equity = pos ? cash + pos.qty * c.close : cash;
      if (pos) held++;
      if (prevEquity > 0) {
        const r = equity / prevEquity - 1;
        n++;
        sumR += r;
        sumR2 += r * r;
        if (r < 0) sumDown2 += r * r;
      }
      prevEquity = equity;
      if (equity > peak) peak = equity;
      else if ((peak - equity) / peak > maxDrawdown) maxDrawdown = (peak - equity) / peak;
      options.onEquity?.(c.ts, equity);
      last = c;
    },
    positionValue: () => (pos && last ? pos.qty * last.close : 0),
    finish() {
      if (pos && last) exit(last.ts, last.close, "end");
      const summary = summarize({
        strategy: params.name,
        candles,
        firstTs,
        lastTs: last?.ts,
        steps: candles,
        signals,
        dropped,
        skipped,
        trades,
        feesQuote: fees,
        initialQuote: options.initialQuote,
        finalQuote: wallet.cash,
        slippageBps: options.slippageBps ?? 0,
        stats: { maxDrawdown, n, sumR, sumR2, sumDown2, held },
      });
      return { summary, trades };
    },
  };
}

function trailSpec(e: ExitRules | undefined): TrailSpec | undefined {
  if (e?.trailPct === undefined) return undefined;
  return {
    trailPct: e.trailPct,
    activationPct: e.trailActivationPct ?? 0,
    stepPct: e.trailStepPct ?? DEFAULT_TRAIL_STEP_PCT,
  };
}

/**
 * The ladder's slices for one entry, by the live rule (planLadder): quantities truncated to
 * the sizing step, too small ones merged; undefined when the ladder cannot be sold at all.
 */
function planSlices(
  levels: readonly LadderLevel[],
  entry: number,
  qty: string,
  stop: number,
  o: { stepSize?: number; exits?: ExitRules },
): { price: Float64Array; qty: Float64Array } | undefined {
  const text = (x: number | undefined) => x ? numberToDecimal(x) : undefined;
  const plan = planLadder(levels, numberToDecimal(entry), qty, numberToDecimal(stop), {
    step_size: text(o.stepSize),
    min_qty: text(o.exits?.minQty),
    min_notional: text(o.exits?.minNotional),
  });
  if (!plan.ok) return undefined;
  return {
    price: Float64Array.from(plan.slices, (s) => Number(s.price)),
    qty: Float64Array.from(plan.slices, (s) => Number(s.qty)),
  };
}

/** A position closed in parts as one round trip: its sells' mean price, fees and net PnL. */
function roundTrip(p: Position, ts: number, reason: ExitReason): Trade {
  const sold = p.sold!;
  let qty = 0, value = 0, fee = 0;
  for (const e of sold) {
    qty += e.qty;
    value += e.qty * e.price;
    fee += e.feeQuote;
  }
  return {
    entryTs: p.entryTs,
    exitTs: ts,
    entryPrice: p.entryPrice,
    exitPrice: value / qty,
    qty,
    feeQuote: p.entryFeeQuote + fee,
    pnlQuote: value - fee - (qty * p.entryPrice + p.entryFeeQuote),
    reason,
    exits: sold,
  };
}

/** Running statistics of an equity curve: drawdown, per-step returns, steps with a position. */
export interface EquityStats {
  maxDrawdown: number;
  n: number;
  sumR: number;
  sumR2: number;
  sumDown2: number;
  held: number;
}

/** The summary from the counts, the trades and the equity statistics (one backtest or a portfolio). */
export function summarize(o: {
  strategy: string;
  candles: number;
  firstTs?: number;
  lastTs?: number;
  /** Equity samples (candles; for a portfolio, distinct times). */
  steps: number;
  signals: number;
  dropped: number;
  skipped: number;
  trades: Trade[];
  feesQuote: number;
  initialQuote: number;
  finalQuote: number;
  slippageBps: number;
  stats: EquityStats;
}): BacktestSummary {
  const { trades, stats } = o;
  const wins = trades.filter((t) => t.pnlQuote > 0).length;
  const round2 = (x: number) => Math.round(x * 100) / 100;
  const round3 = (x: number) => Math.round(x * 1000) / 1000;
  const grossWin = trades.reduce((a, t) => a + Math.max(0, t.pnlQuote), 0);
  const grossLoss = -trades.reduce((a, t) => a + Math.min(0, t.pnlQuote), 0);
  // Annualised by the average spacing of the samples (1m candles: 525,600 a year).
  const spacingMs = o.lastTs !== undefined && o.firstTs !== undefined && o.steps > 1
    ? (o.lastTs - o.firstTs) / (o.steps - 1)
    : 0;
  const perYear = spacingMs > 0 ? Math.sqrt((365 * 86_400_000) / spacingMs) : 0;
  const mean = stats.n ? stats.sumR / stats.n : 0;
  const sd = stats.n > 1 ? Math.sqrt(Math.max(0, stats.sumR2 / stats.n - mean * mean)) : 0;
  const downside = stats.n ? Math.sqrt(stats.sumDown2 / stats.n) : 0;
  return {
    strategy: o.strategy,
    candles: o.candles,
    firstTs: o.firstTs,
    lastTs: o.lastTs,
    signals: o.signals,
    dropped: o.dropped,
    skipped: o.skipped,
    trades: trades.length,
    exitFills: trades.reduce((k, t) => k + (t.exits?.length ?? 1), 0),
    wins,
    losses: trades.length - wins,
    winRatePct: trades.length ? round2(wins / trades.length * 100) : 0,
    pnlQuote: round2(o.finalQuote - o.initialQuote),
    feesQuote: round2(o.feesQuote),
    maxDrawdownPct: round2(stats.maxDrawdown * 100),
    returnPct: round2((o.finalQuote - o.initialQuote) / o.initialQuote * 100),
    initialQuote: o.initialQuote,
    finalQuote: round2(o.finalQuote),
    slippageBps: o.slippageBps,
    profitFactor: grossLoss > 0 ? round3(grossWin / grossLoss) : null,
    avgWinQuote: wins ? round2(grossWin / wins) : null,
    avgLossQuote: trades.length - wins ? round2(-grossLoss / (trades.length - wins)) : null,
    expectancyQuote: trades.length ? round2((grossWin - grossLoss) / trades.length) : null,
    exposurePct: o.steps ? round2((stats.held / o.steps) * 100) : 0,
    sharpe: sd > 0 && perYear > 0 ? round3((mean / sd) * perYear) : null,
    sortino: downside > 0 && perYear > 0 ? round3((mean / downside) * perYear) : null,
  };
}
