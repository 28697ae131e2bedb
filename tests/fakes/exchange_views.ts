/**
 * Binance-shaped JSON for the fake exchange (tests/fakes/exchange.ts): its markets, the
 * exchangeInfo, klines and ticker views. Kept apart so the fake's order book stays readable.
 */
export interface FakeMarket {
  symbol: string;
  base: string;
  quote: string;
  tickSize: string;
  stepSize: string;
  minQty: string;
  /** LOT_SIZE's maxQty ("9000" when absent): a larger quantity is refused (-1013). */
  maxQty?: string;
  /**
   * MARKET_LOT_SIZE's maxQty ("9000" when absent): a larger MARKET order is refused (-1013),
   * whatever LOT_SIZE allows.
   */
  marketMaxQty?: string;
  minNotional: string;
  price: string;
  /** What the symbol accepts (exchangeInfo's orderTypes); DEFAULT_ORDER_TYPES when absent. */
  orderTypes?: string[];
}

export const DEFAULT_ORDER_TYPES = ["LIMIT", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"];

export const DEFAULT_MARKETS: FakeMarket[] = [
  {
    symbol: "BTCUSDT",
    base: "BTC",
    quote: "USDT",
    tickSize: "0.01",
    stepSize: "0.00001",
    minQty: "0.00001",
    minNotional: "5",
    price: "50000",
  },
  {
    symbol: "ETHUSDT",
    base: "ETH",
    quote: "USDT",
    tickSize: "0.01",
    stepSize: "0.0001",
    minQty: "0.0001",
    minNotional: "5",
    price: "3000",
  },
];

/** A market quoted in BTC (not among the defaults): for accounts trading two quote assets. */
export const ETHBTC_MARKET: FakeMarket = {
  symbol: "ETHBTC",
  base: "ETH",
  quote: "BTC",
  tickSize: "0.00001",
  stepSize: "0.0001",
  minQty: "0.0001",
  minNotional: "0.0001",
  price: "0.06",
};

export const COMMISSION_RATE = 0.001;
export const fix8 = (n: number) => n.toFixed(8);

const INTERVAL_MS: Record<string, number> = {
  "1m": 60_000,
  "3m": 180_000,
  "5m": 300_000,
  "15m": 900_000,
  "30m": 1_800_000,
  "1h": 3_600_000,
  "4h": 14_400_000,
  "1d": 86_400_000,
};

export function exchangeInfoView(markets: FakeMarket[], now: number) {
  return {
    timezone: "UTC",
    serverTime: now,
    rateLimits: [],
    exchangeFilters: [],
    symbols: markets.map((m) => ({
      symbol: m.symbol,
      status: "TRADING",
      baseAsset: m.base,
      baseAssetPrecision: 8,
      quoteAsset: m.quote,
      quotePrecision: 8,
      quoteAssetPrecision: 8,
      orderTypes: m.orderTypes ?? DEFAULT_ORDER_TYPES,
      icebergAllowed: true,
      ocoAllowed: true,
      isSpotTradingAllowed: true,
      isMarginTradingAllowed: false,
      filters: [
        {
          filterType: "PRICE_FILTER",
          minPrice: m.tickSize,
          maxPrice: "1000000.00",
          tickSize: m.tickSize,
        },
        {
          filterType: "LOT_SIZE",
          minQty: m.minQty,
          maxQty: m.maxQty ?? "9000",
          stepSize: m.stepSize,
        },
        {
          filterType: "MARKET_LOT_SIZE",
          minQty: "0.00000000",
          maxQty: m.marketMaxQty ?? "9000",
          stepSize: "0.00000000",
        },
        {
          filterType: "NOTIONAL",
          minNotional: m.minNotional,
          applyMinToMarket: true,
          maxNotional: "9000000",
          applyMaxToMarket: false,
          avgPriceMins: 5,
        },
      ],
      permissions: [],
      permissionSets: [["SPOT"]],
    })),
  };
}

/**
 * Closed and current bars of `interval` (1m … 1d): a deterministic wave of ±1 % around the
 * market's price, so indicators have something to do. Undefined for an unknown interval.
 */
export function klinesView(m: FakeMarket, p: URLSearchParams, now: number) {
  const step = INTERVAL_MS[p.get("interval") ?? "1m"];
  if (!step) return undefined;
  const limit = Math.min(Number(p.get("limit") ?? 500), 1000);
  const end = Math.floor((Number(p.get("endTime")) || now) / step) * step;
  const start = p.get("startTime")
    ? Math.ceil(Number(p.get("startTime")) / step) * step
    : end - (limit - 1) * step;
  const price = Number(m.price);
  const wave = (t: number) => price * (1 + 0.01 * Math.sin(t / step / 10));
  const rows = [];
  for (let t = start; t <= end && rows.length < limit; t += step) {
    const o = wave(t - step);
    const c = wave(t);
    rows.push([
      t,
      fix8(o),
      fix8(Math.max(o, c) * 1.001),
      fix8(Math.min(o, c) * 0.999),
      fix8(c),
      "1.50000000",
      t + step - 1,
      fix8(c * 1.5),
      10,
      "0.7",
      fix8(c * 0.7),
      "0",
    ]);
  }
  return rows;
}

/** One view serves ticker/24hr, ticker/price and ticker/bookTicker (ccxt reads what it needs). */
export function tickerView(m: FakeMarket, now: number) {
  return {
    symbol: m.symbol,
    price: m.price,
    lastPrice: m.price,
    bidPrice: m.price,
    askPrice: m.price,
    bidQty: "1",
    askQty: "1",
    openPrice: m.price,
    highPrice: m.price,
    lowPrice: m.price,
    volume: "100",
    quoteVolume: fix8(100 * Number(m.price)),
    openTime: now - 86_400_000,
    closeTime: now,
    count: 1,
  };
}
