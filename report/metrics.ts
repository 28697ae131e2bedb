// Longer than ~300 lines: the report's numbers and their rules together, pure, tested beside.
/**
 * The numbers of a report, computed from what the database holds (pure: the rows come in, the
 * snapshot goes out). Sources and rules:
 * - **Equity** at a time is the ledger's balance of every asset at that time, valued in the quote
 *   asset at the latest known price at or before it (a candle close or a fill of `ASSET/QUOTE`);
 *   the quote asset counts 1. An asset with no known price counts 0 (named in `unpriced`).
 *   For a paper account the ledger holds its deposit, so equity is the account's; a live
 *   account's ledger holds only what the service traded, so its equity starts at 0 and the
 *   return is not given (`returnPct` null) — its PnL still is. Deposits and withdrawals of the
 *   quote asset during the period are capital, not return:
 *   return = (end − start − net deposits) / (start + deposits).
 * - **Trades** are round trips: from a symbol's position leaving 0 to it coming back to 0,
 *   replayed from every fill at average cost (buy fees in the quote asset are part of the
 *   cost; a fee in the base asset reduces the quantity held). An `adjustment` leg of the base
 *   (a position written down to what the exchange holds, execution/holdings.ts) takes that
 *   quantity out at its average cost, a loss, as the position's realized PnL does; what is left
 *   below the market's step closes the trade. A trade belongs to the period in which it closes.
 *   **Realized PnL** is the PnL of every sell (and write-down) in the period, partial ones too.
 * - **Fees** are those of the period's fills, valued in the quote asset. A fee in a third asset
 *   (BNB) counts at the value recorded with its fill when the market is quoted in the report's
 *   quote (the position was charged that), else at the latest known `ASSET/QUOTE` price at the
 *   fill (0 when there is none).
 * - **Exposure** is the share of the period during which something other than the quote asset
 *   was held. **Max drawdown** is the deepest fall of the equity curve from its running peak.
 */
import type { Period } from "./period.ts";

export interface LedgerLeg {
  asset: string;
  amount: number;
  at: Date;
  /**
   * 'deposit' and 'withdrawal' legs are capital moved in or out, not performance; an
   * 'adjustment' leg writes a position down to what the exchange holds (execution/holdings.ts).
   */
  kind?: string;
  /** The trading account's name, to find the position an adjustment wrote down. */
  account?: string | null;
}

export interface FillRow {
  symbol: string;
  side: "buy" | "sell";
  qty: number;
  price: number;
  fee: number;
  feeAsset: string | null;
  /**
   * The fee in the market's quote as its position was charged at the fill (executions.fee_quote:
   * a fee in a third asset, BNB, at the price known then); null or absent when not recorded.
   */
  feeQuote?: number | null;
  at: Date;
  strategy: string | null;
  /** The trading account's name; fills of several accounts are replayed apart. */
  account?: string | null;
  /**
   * The market's step (lot size): what a sell leaves below it can never be sold (dust of a
   * commission taken in the base), so the trade is closed then, as its position is.
   */
  stepSize?: number | null;
}

export interface PricePoint {
  symbol: string;
  at: Date;
  price: number;
}

export interface SnapshotInput {
  period: Period;
  /** The end of what is counted: the period's end, or now for a partial snapshot. */
  until: Date;
  quote: string;
  /** Every ledger leg of the scope up to `until`, any order. */
  legs: LedgerLeg[];
  /** Every fill of the scope up to `until`, any order. */
  fills: FillRow[];
  /** Candle closes (and any other known prices) up to `until`, any order. */
  prices: PricePoint[];
  /** Whether the ledger holds the account's deposits (paper), so a return can be given. */
  funded: boolean;
}

export interface TradeRow {
  symbol: string;
  /** Whose trade, in a report of several accounts. */
  account?: string;
  strategy: string | null;
  openedAt: string;
  closedAt: string;
  qty: number;
  pnl: number;
  fees: number;
}

export interface GroupRow {
  name: string;
  trades: number;
  wins: number;
  pnl: number;
  fees: number;
}

export interface Snapshot {
  quote: string;
  metrics: {
    startEquity: number;
    endEquity: number;
    returnPct: number | null;
    realizedPnl: number;
    fees: number;
    fills: number;
    trades: number;
    wins: number;
    losses: number;
    winRatePct: number | null;
    avgWin: number | null;
    avgLoss: number | null;
    profitFactor: number | null;
    maxDrawdown: number;
    maxDrawdownPct: number;
    exposurePct: number;
  };
  bySymbol: GroupRow[];
  byStrategy: GroupRow[];
  openPositions: {
    symbol: string;
    account?: string;
    qty: number;
    avgEntry: number;
    price: number | null;
  }[];
  trades: TradeRow[];
  curve: { t: string; equity: number }[];
  unpriced: string[];
  /**
   * Symbols held at a closed period's end whose candles did not reach it when the report was
   * built (report/store.ts): valued at the latest price known before, whose candle closed at
   * `pricedAt`. Absent when every price was there.
   */
  lackedPrices?: { symbol: string; pricedAt: string | null }[];
}

const DUST = 1e-12;
/** Money to 8 decimals: reports show numbers, they do not book them. */
const r8 = (n: number) => Math.round(n * 1e8) / 1e8;
const byTime = <T extends { at: Date }>(rows: T[]) =>
  [...rows].sort((a, b) => a.at.getTime() - b.at.getTime());

export function computeSnapshot(input: SnapshotInput): Snapshot {
  const { period, until, quote } = input;
  const start = period.start.getTime();
  const end = Math.min(period.end.getTime(), until.getTime());
  const price = priceBook(input.prices, input.fills);
  const adjustments = input.legs.filter((l) => l.kind === "adjustment" && l.amount < 0);
  const replay = replayFills(byTime(input.fills), byTime(adjustments), quote, price, start, end);
  const curve = equityCurve(byTime(input.legs), quote, price, start, end, period.kind);
  const first = curve.points[0]?.equity ?? 0;
  const last = curve.points.at(-1)?.equity ?? 0;
  const wins = replay.trades.filter((t) => t.pnl > 0);
  const losses = replay.trades.filter((t) => t.pnl <= 0);
  const grossWin = wins.reduce((s, t) => s + t.pnl, 0);
  const grossLoss = -losses.reduce((s, t) => s + t.pnl, 0);
  return {
    quote,
    metrics: {
      startEquity: r8(first),
      endEquity: r8(last),
      returnPct: returnPct(input, first, last, start, end),
      realizedPnl: r8(replay.realizedPnl),
      fees: r8(replay.fees),
      fills: replay.fills,
      trades: replay.trades.length,
      wins: wins.length,
      losses: losses.length,
      winRatePct: replay.trades.length ? r8((wins.length / replay.trades.length) * 100) : null,
      avgWin: wins.length ? r8(grossWin / wins.length) : null,
      avgLoss: losses.length ? r8(-grossLoss / losses.length) : null,
      profitFactor: grossLoss > 0 ? r8(grossWin / grossLoss) : null,
      maxDrawdown: r8(curve.maxDrawdown),
      maxDrawdownPct: r8(curve.maxDrawdownPct),
      exposurePct: r8(curve.exposurePct),
    },
    bySymbol: group(replay.trades, (t) => t.symbol),
    byStrategy: group(replay.trades, (t) => t.strategy ?? "(none)"),
    openPositions: replay.open.map((o) => ({ ...o, price: price(o.symbol, end) })),
    trades: replay.trades.map((t) => ({ ...t, pnl: r8(t.pnl), fees: r8(t.fees) })),
    curve: curve.points.map((p) => ({ t: new Date(p.t).toISOString(), equity: r8(p.equity) })),
    unpriced: [...curve.unpriced].sort(),
  };
}

function returnPct(input: SnapshotInput, first: number, last: number, start: number, end: number) {
  if (!input.funded) return null;
  let deposits = 0;
  let withdrawals = 0;
  for (const l of input.legs) {
    const t = l.at.getTime();
    if (t <= start || t > end || l.asset !== input.quote) continue;
    if (l.kind === "deposit") deposits += l.amount;
    if (l.kind === "withdrawal") withdrawals += l.amount;
  }
  const capital = first + deposits;
  return capital > 0 ? r8(((last - first - deposits - withdrawals) / capital) * 100) : null;
}

type PriceOf = (symbol: string, atMs: number) => number | null;

/** The latest known price of a symbol at or before a time (binary search per symbol). */
function priceBook(prices: PricePoint[], fills: FillRow[]): PriceOf {
  const series = new Map<string, { t: number; p: number }[]>();
  for (const x of [...prices, ...fills]) {
    const list = series.get(x.symbol) ?? [];
    list.push({ t: x.at.getTime(), p: x.price });
    series.set(x.symbol, list);
  }
  for (const list of series.values()) list.sort((a, b) => a.t - b.t);
  return (symbol, atMs) => {
    const list = series.get(symbol);
    if (!list?.length || list[0].t > atMs) return null;
    let lo = 0;
    let hi = list.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (list[mid].t <= atMs) lo = mid;
      else hi = mid - 1;
    }
    return list[lo].p;
  };
}

interface Holding {
  qty: number;
  cost: number;
  openedAt: number;
  strategy: string | null;
  pnl: number;
  fees: number;
  stepSize?: number | null;
  /** Of the base, what other markets' fills took as their fees (BNB) while it was held. */
  feesOut?: number;
}

function replayFills(
  fills: FillRow[],
  adjustments: LedgerLeg[],
  quote: string,
  price: PriceOf,
  start: number,
  end: number,
) {
  // A position is one account's: two accounts trading one symbol are two positions (merged,
  // the second one's buy would be averaged into the first one's trade).
  const held = new Map<
    string,
    Holding & { symbol: string; account?: string; accountName?: string | null }
  >();
  const several = new Set(fills.map((f) => f.account ?? null)).size > 1;
  const trades: (TradeRow & { closedMs: number })[] = [];
  let realizedPnl = 0;
  let fees = 0;
  let count = 0;
  /** Closes the holding's trade once what is left can never be sold (none, or dust). */
  const settle = (
    key: string,
    h: Holding & { symbol: string; account?: string },
    t: number,
    qty: number,
  ) => {
    // What other markets' fills took out of it as their fees (BNB) is not held any more: the
    // position is written down by it, and sold or closed on what is left (holdings.ts).
    const rest = h.qty - (h.feesOut ?? 0);
    if (!(rest <= DUST * 1e3 || (h.stepSize && rest < h.stepSize * (1 - 1e-9)))) return;
    if (t >= start) {
      trades.push({
        symbol: h.symbol,
        ...(h.account ? { account: h.account } : {}),
        strategy: h.strategy,
        openedAt: new Date(h.openedAt).toISOString(),
        closedAt: new Date(t).toISOString(),
        closedMs: t,
        qty,
        pnl: h.pnl,
        fees: h.fees,
      });
    }
    held.delete(key);
  };
  // A write-down (an adjustment leg of the base) takes the coins out at their average cost, as
  // the position's realized PnL is charged (execution/holdings.ts): the position of that
  // account holding the asset.
  let a = 0;
  const writeDowns = (until: number) => {
    for (; a < adjustments.length && adjustments[a].at.getTime() < until; a++) {
      const l = adjustments[a];
      const t = l.at.getTime();
      if (t >= end) continue;
      const found = [...held.entries()].find(([, h]) =>
        h.symbol.split("/")[0] === l.asset && (h.accountName ?? "") === (l.account ?? "") &&
        h.qty > DUST
      );
      if (!found) continue;
      const [key, h] = found;
      const qty = Math.min(-l.amount, h.qty);
      const costPart = h.cost * (qty / h.qty);
      h.qty -= qty;
      h.cost -= costPart;
      h.pnl -= costPart;
      if (t >= start) realizedPnl -= costPart;
      settle(key, h, t, qty);
    }
  };
  for (const f of fills) {
    const t = f.at.getTime();
    writeDowns(t + 1);
    // A period's end is the next one's start: a fill at that moment is the next one's.
    if (t >= end) break;
    const inPeriod = t >= start;
    const [base, marketQuote] = f.symbol.split("/");
    const feeQuote = f.feeAsset === quote
      ? f.fee
      : f.feeAsset === base
      ? f.fee * f.price
      : f.feeQuote != null && marketQuote === quote
      ? f.feeQuote
      : f.feeAsset
      ? f.fee * (price(`${f.feeAsset}/${quote}`, t) ?? 0)
      : 0;
    if (inPeriod) {
      fees += feeQuote;
      count++;
    }
    if (f.feeAsset && f.fee > 0 && f.feeAsset !== base && f.feeAsset !== marketQuote) {
      for (const o of held.values()) {
        if (o.symbol.split("/")[0] === f.feeAsset && o.accountName === (f.account ?? null)) {
          o.feesOut = (o.feesOut ?? 0) + f.fee;
          break;
        }
      }
    }
    const key = `${f.account ?? ""}\u0000${f.symbol}`;
    let h = held.get(key);
    if (h && f.stepSize) h.stepSize = f.stepSize;
    if (f.side === "buy") {
      if (!h || h.qty <= DUST) {
        h = {
          symbol: f.symbol,
          ...(several && f.account ? { account: f.account } : {}),
          accountName: f.account ?? null,
          qty: 0,
          cost: 0,
          openedAt: t,
          strategy: f.strategy,
          pnl: 0,
          fees: 0,
        };
        held.set(key, h);
      }
      if (f.stepSize) h.stepSize = f.stepSize;
      h.qty += f.qty - (f.feeAsset === base ? f.fee : 0);
      h.cost += f.qty * f.price + (f.feeAsset === base ? 0 : feeQuote);
      h.fees += feeQuote;
      continue;
    }
    if (!h || h.qty <= DUST) continue; // a sell of coins the service never bought
    const qty = Math.min(f.qty, h.qty);
    const costPart = h.cost * (qty / h.qty);
    const pnl = qty * f.price - feeQuote - costPart;
    h.qty -= qty;
    h.cost -= costPart;
    h.pnl += pnl;
    h.fees += feeQuote;
    if (inPeriod) realizedPnl += pnl;
    settle(key, h, t, qty);
  }
  writeDowns(end);
  const open = [...held.values()]
    .filter((h) => h.qty > DUST)
    .map((h) => ({
      symbol: h.symbol,
      ...(h.account ? { account: h.account } : {}),
      qty: r8(h.qty),
      avgEntry: r8(h.cost / h.qty),
    }));
  return {
    trades: trades.map(({ closedMs: _, ...t }) => t),
    realizedPnl,
    fees,
    fills: count,
    open,
  };
}

function equityCurve(
  legs: LedgerLeg[],
  quote: string,
  price: PriceOf,
  start: number,
  end: number,
  kind: Period["kind"],
) {
  const stepMs = (kind === "daily" ? 1 : 6) * 3_600_000;
  const times = new Set<number>([start, end]);
  for (let t = start + stepMs; t < end; t += stepMs) times.add(t);
  for (const l of legs) {
    const t = l.at.getTime();
    if (t > start && t < end) times.add(t);
  }
  const balances = new Map<string, number>();
  const unpriced = new Set<string>();
  let i = 0;
  const points: { t: number; equity: number }[] = [];
  let peak = -Infinity;
  let maxDrawdown = 0;
  let maxDrawdownPct = 0;
  let exposedMs = 0;
  let prev: { t: number; exposed: boolean } | undefined;
  for (const t of [...times].sort((a, b) => a - b)) {
    while (i < legs.length && legs[i].at.getTime() <= t) {
      const l = legs[i++];
      balances.set(l.asset, (balances.get(l.asset) ?? 0) + l.amount);
    }
    let equity = 0;
    let exposed = false;
    for (const [asset, qty] of balances) {
      if (Math.abs(qty) <= DUST) continue;
      if (asset === quote) {
        equity += qty;
        continue;
      }
      exposed = true;
      const p = price(`${asset}/${quote}`, t);
      if (p === null) unpriced.add(asset);
      else equity += qty * p;
    }
    if (prev?.exposed) exposedMs += t - prev.t;
    prev = { t, exposed };
    points.push({ t, equity });
    peak = Math.max(peak, equity);
    if (peak - equity > maxDrawdown) maxDrawdown = peak - equity;
    if (peak > 0) maxDrawdownPct = Math.max(maxDrawdownPct, ((peak - equity) / peak) * 100);
  }
  return {
    points,
    maxDrawdown,
    maxDrawdownPct,
    exposurePct: end > start ? (exposedMs / (end - start)) * 100 : 0,
    unpriced,
  };
}

function group(trades: TradeRow[], key: (t: TradeRow) => string): GroupRow[] {
  const m = new Map<string, GroupRow>();
  for (const t of trades) {
    const g = m.get(key(t)) ?? { name: key(t), trades: 0, wins: 0, pnl: 0, fees: 0 };
    g.trades++;
    if (t.pnl > 0) g.wins++;
    g.pnl = r8(g.pnl + t.pnl);
    g.fees = r8(g.fees + t.fees);
    m.set(g.name, g);
  }
  return [...m.values()].sort((a, b) => a.name.localeCompare(b.name));
}
