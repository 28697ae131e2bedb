/**
 * The ccxt adapter: the only place that talks ccxt. It builds the exchange from the config
 * (sandbox mode, keys, an EXCHANGE_API_URL that replaces the scheme and host of every REST
 * endpoint), and wraps every call: ccxt's objects and errors are translated once in
 * ccxt_map.ts.
 * ccxt is imported lazily: it costs ~250 ms and ~110 MB, which commands that do not trade skip.
 */
import type { Config } from "../core/config.ts";
import { ConfigError } from "../core/errors.ts";
import { mapCcxtError, str, toFill, toMarket, toOrder } from "./ccxt_map.ts";
import type { Balance, Exchange } from "./port.ts";

// deno-lint-ignore no-explicit-any
type Any = any;
type CcxtModule = Any;

let loaded: Promise<CcxtModule> | undefined;
const loadCcxt = (): Promise<CcxtModule> =>
  loaded ??= import("ccxt").then((m: Any) => m.default ?? m);

/** Replaces the scheme and host of every URL in `api` (nested objects too), keeping paths. */
export function rewriteApiUrls(api: unknown, base: string): unknown {
  const origin = new URL(base).origin;
  if (typeof api === "string") {
    try {
      const u = new URL(api);
      return origin + u.pathname.replace(/\/$/, "") + u.search;
    } catch {
      return api;
    }
  }
  if (api && typeof api === "object") {
    return Object.fromEntries(
      Object.entries(api as Record<string, unknown>).map(([k, v]) => [k, rewriteApiUrls(v, base)]),
    );
  }
  return api;
}

export type ExchangeSettings =
  & Pick<Config["exchange"], "id" | "mode" | "apiKey" | "apiSecret" | "apiUrl" | "timeoutMs">
  & {
    /** ccxt's client-side throttle (the exchange's published rate limit); on unless a test
     * or benchmark talks to a local fake that has no limit. */
    throttle?: boolean;
  };

/** Builds the ccxt client itself (also used by the paper broker for public market data). */
export async function buildCcxtClient(settings: ExchangeSettings, withKeys = true): Promise<Any> {
  const ccxt = await loadCcxt();
  const Ctor = ccxt[settings.id];
  if (typeof Ctor !== "function") {
    throw new ConfigError(
      `EXCHANGE_ID "${settings.id}" is not an exchange ccxt knows; use an id such as binance`,
    );
  }
  const client = new Ctor({
    apiKey: withKeys ? settings.apiKey : undefined,
    secret: withKeys ? settings.apiSecret : undefined,
    timeout: settings.timeoutMs,
    enableRateLimit: settings.throttle ?? true,
    options: {
      // Spot only: without these, loadMarkets with keys also calls futures and /sapi endpoints.
      defaultType: "spot",
      fetchMarkets: { types: ["spot"] },
      fetchCurrencies: false,
      fetchMargins: false,
      warnOnFetchOpenOrdersWithoutSymbol: false,
    },
  });
  if (settings.mode === "sandbox") client.setSandboxMode(true);
  if (settings.apiUrl) client.urls.api = rewriteApiUrls(client.urls.api, settings.apiUrl);
  return client;
}

// Longer than ~80 lines: one closure over the ccxt client: each method of the Exchange port is a few lines.
export async function createCcxtExchange(settings: ExchangeSettings): Promise<Exchange> {
  const ccxt = await loadCcxt();
  const client = await buildCcxtClient(settings);
  const call = async (what: string, fn: () => Promise<Any>, creating = false): Promise<Any> => {
    try {
      return await fn();
    } catch (error) {
      const retryAfter = client.last_response_headers?.["Retry-After"];
      throw mapCcxtError(ccxt, error, what, creating, retryAfter);
    }
  };
  let marketsLoaded = false;
  const ensureMarkets = async () => {
    if (!marketsLoaded) {
      // Reload: ccxt keeps a failed load's promise and would hand it back rejected forever, so
      // an exchange that was down at the first call would never be traded on until a restart.
      await call("Loading markets", () => client.loadMarkets(true));
      marketsLoaded = true;
    }
  };
  return {
    id: settings.id,
    mode: settings.mode,
    async loadMarkets() {
      const markets = await call("Loading markets", () => client.loadMarkets(true));
      marketsLoaded = true;
      return Object.values(markets as Record<string, Any>).filter((m) => m.spot).map(toMarket);
    },
    async fetchOHLCV(symbol, timeframe, since, limit) {
      await ensureMarkets();
      const rows = await call(
        `Fetching ${timeframe} candles of ${symbol}`,
        () => client.fetchOHLCV(symbol, timeframe, since, limit),
      ) as number[][];
      return rows.map(([ts, open, high, low, close, volume]) => ({
        ts,
        open,
        high,
        low,
        close,
        volume,
      }));
    },
    async fetchTicker(symbol) {
      await ensureMarkets();
      const t = await call(`Fetching the ticker of ${symbol}`, () => client.fetchTicker(symbol));
      return { symbol, last: t.last ?? t.close, bid: t.bid, ask: t.ask, ts: t.timestamp ?? 0 };
    },
    async fetchBalance() {
      await ensureMarkets();
      const b = await call("Fetching balances", () => client.fetchBalance());
      const out: Record<string, Balance> = {};
      for (const asset of Object.keys(b.total ?? {})) {
        out[asset] = {
          free: str(b.free?.[asset]) ?? "0",
          used: str(b.used?.[asset]) ?? "0",
          total: str(b.total?.[asset]) ?? "0",
        };
      }
      return out;
    },
    async createOrder(r) {
      await ensureMarkets();
      const params: Record<string, unknown> = { clientOrderId: r.clientOrderId };
      let type: string = r.type;
      if (r.type === "stop_market" || r.type === "stop_limit") {
        // ccxt's binance reads the trigger of a sell as a stop-loss: "limit" with it becomes
        // STOP_LOSS_LIMIT (price = the limit), "market" STOP_LOSS (refused on many symbols).
        params.triggerPrice = Number(r.stopPrice);
        type = r.type === "stop_market" ? "market" : "limit";
        if (r.type === "stop_limit") params.timeInForce = "GTC";
      }
      const o = await call(
        `Placing order "${r.clientOrderId}"`,
        () =>
          client.createOrder(
            r.symbol,
            type,
            r.side,
            Number(r.qty),
            r.price ? Number(r.price) : undefined,
            params,
          ),
        true,
      );
      return toOrder(o);
    },
    async cancelOrder(clientOrderId, symbol) {
      await ensureMarkets();
      await call(
        `Cancelling order "${clientOrderId}"`,
        () => client.cancelOrder("", symbol, { origClientOrderId: clientOrderId }),
      );
    },
    async fetchOrderByClientId(clientOrderId, symbol) {
      await ensureMarkets();
      try {
        return toOrder(await client.fetchOrder("", symbol, { origClientOrderId: clientOrderId }));
      } catch (error) {
        if (error instanceof ccxt.OrderNotFound) return null;
        throw mapCcxtError(ccxt, error, `Looking up order "${clientOrderId}"`);
      }
    },
    async fetchOpenOrders(symbol) {
      await ensureMarkets();
      const list = await call("Fetching open orders", () => client.fetchOpenOrders(symbol));
      return (list as Any[]).map(toOrder);
    },
    async fetchMyTrades(symbol, since, options) {
      await ensureMarkets();
      const orderId = options?.orderId;
      const list = await call(
        `Fetching trades of ${symbol}`,
        () =>
          orderId
            // One order's trades (Binance: symbol + orderId; startTime cannot be combined).
            ? client.fetchMyTrades(symbol, undefined, 1000, { orderId })
            : client.fetchMyTrades(symbol, since),
      );
      return (list as Any[]).map((t) => toFill(t));
    },
    close: async () => {
      await client.close?.();
    },
  };
}
