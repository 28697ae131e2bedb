/**
 * Symbols as signal sources write them: TradingView's "EXCHANGE:MARKETID" (e.g.
 * "BINANCE:BTCUSDT", "BINANCE_DL:BTCUSDT" for delayed data) or a unified "BTC/USDT". Pure: the
 * lookup of a market id in `exchange_instruments` is done by the caller.
 */

/** Quote assets tried, longest first, when a market id must be split without the market list. */
export const KNOWN_QUOTES = [
  "FDUSD",
  "USDT",
  "USDC",
  "BUSD",
  "TUSD",
  "USDP",
  "DAI",
  "BTC",
  "ETH",
  "BNB",
  "EUR",
  "TRY",
  "GBP",
  "BRL",
  "JPY",
  "AUD",
  "USD",
] as const;

/**
 * A unified symbol "BASE/QUOTE". core/config.ts keeps a copy of this pattern for
 * TRADE_SYMBOLS because core/ may not import trading/ (see scripts/check_layers.ts).
 */
export const UNIFIED_SYMBOL = /^[A-Z0-9]{1,20}\/[A-Z0-9]{1,20}$/;
const UNIFIED = UNIFIED_SYMBOL;
const MARKET_ID = /^[A-Z0-9]{2,40}$/;

/** Whether `s` is a unified symbol such as "BTC/USDT" (upper case, as stored). */
export function isUnifiedSymbol(s: string): boolean {
  return UNIFIED_SYMBOL.test(s);
}

export type ParsedSymbol =
  | { ok: true; kind: "unified"; symbol: string }
  | { ok: true; kind: "market"; marketId: string }
  | { ok: false; error: string };

/**
 * Splits off and checks the exchange prefix. An alert for another exchange is refused rather
 * than traded on the configured one: the prices of the two may differ.
 */
export function parseAlertSymbol(input: string, exchangeId: string): ParsedSymbol {
  const raw = input.trim().toUpperCase();
  let rest = raw;
  const colon = raw.indexOf(":");
  if (colon >= 0) {
    // TradingView marks delayed data with "_DL" on the exchange: "BINANCE_DL:BTCUSDT".
    const prefix = raw.slice(0, colon).replace(/_DL$/, "");
    rest = raw.slice(colon + 1);
    if (prefix.toLowerCase() !== exchangeId.toLowerCase()) {
      return {
        ok: false,
        error: `Symbol "${input}" is for exchange ${prefix}, but this service trades on ` +
          `${exchangeId}; send ${exchangeId.toUpperCase()}:${rest} or a unified symbol`,
      };
    }
  }
  rest = rest.replace(/_DL$/, "");
  if (UNIFIED.test(rest)) return { ok: true, kind: "unified", symbol: rest };
  if (MARKET_ID.test(rest)) return { ok: true, kind: "market", marketId: rest };
  return {
    ok: false,
    error: `Symbol "${input}" is not a symbol; use a unified symbol like BTC/USDT or ` +
      `EXCHANGE:MARKETID like BINANCE:BTCUSDT`,
  };
}

/** "BTCUSDT" → "BTC/USDT" by the known quote assets; undefined when none fits. */
export function splitMarketId(marketId: string): string | undefined {
  const id = marketId.toUpperCase();
  for (const quote of KNOWN_QUOTES) {
    if (id.length > quote.length && id.endsWith(quote)) {
      return `${id.slice(0, -quote.length)}/${quote}`;
    }
  }
  return undefined;
}
