/**
 * A Binance-compatible market-data server on 127.0.0.1 (port 0) for ingestion tests through
 * the real ccxt client: GET /api/v3/exchangeInfo (spot markets) and GET /api/v3/klines
 * (startTime, limit; the newest candle is the forming one). Candles come from a function of
 * their open time; failures (HTTP status codes) can be scripted for the next requests.
 */
import type { Candle } from "../../exchange/port.ts";

export interface KlinesServer extends AsyncDisposable {
  url: string;
  /** Query strings of the klines requests received. */
  requests: URLSearchParams[];
  /** HTTP statuses answered to the next klines requests, in order. */
  failNext(...statuses: number[]): void;
  close(): Promise<void>;
}

const INTERVAL_MS: Record<string, number> = { "1m": 60_000, "5m": 300_000, "1h": 3_600_000 };

function market(base: string, quote: string) {
  return {
    symbol: `${base}${quote}`,
    status: "TRADING",
    baseAsset: base,
    baseAssetPrecision: 8,
    quoteAsset: quote,
    quotePrecision: 8,
    quoteAssetPrecision: 8,
    orderTypes: ["LIMIT", "MARKET", "STOP_LOSS_LIMIT"],
    isSpotTradingAllowed: true,
    isMarginTradingAllowed: false,
    permissions: ["SPOT"],
    permissionSets: [["SPOT"]],
    filters: [
      { filterType: "PRICE_FILTER", minPrice: "0.01", maxPrice: "1000000", tickSize: "0.01" },
      { filterType: "LOT_SIZE", minQty: "0.00001", maxQty: "9000", stepSize: "0.00001" },
      { filterType: "NOTIONAL", minNotional: "5", maxNotional: "9000000" },
    ],
  };
}

export function startKlinesServer(options: {
  now: () => number;
  candleAt: (ts: number) => Candle;
  symbols?: string[];
}): KlinesServer {
  const symbols = options.symbols ?? ["BTC/USDT"];
  const requests: URLSearchParams[] = [];
  const failures: number[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/api/v3/exchangeInfo") {
      return Response.json({
        timezone: "UTC",
        serverTime: options.now(),
        rateLimits: [],
        symbols: symbols.map((s) => market(...(s.split("/") as [string, string]))),
      });
    }
    if (url.pathname === "/api/v3/klines") {
      requests.push(url.searchParams);
      const status = failures.shift();
      if (status === 429) {
        return Response.json({ code: -1003, msg: "Too many requests; current limit exceeded" }, {
          status,
          headers: { "Retry-After": "1" },
        });
      }
      if (status) return new Response("Service Unavailable", { status });
      const step = INTERVAL_MS[url.searchParams.get("interval") ?? ""];
      if (!step) return Response.json({ code: -1120, msg: "Invalid interval." }, { status: 400 });
      const limit = Math.min(Number(url.searchParams.get("limit") ?? 500), 1000);
      const forming = Math.floor(options.now() / step) * step;
      const startTime = url.searchParams.get("startTime");
      const first = startTime === null
        ? forming - (limit - 1) * step
        : Math.ceil(Number(startTime) / step) * step;
      const rows = [];
      for (let ts = first; ts <= forming && rows.length < limit; ts += step) {
        const c = options.candleAt(ts);
        rows.push([
          ts,
          String(c.open),
          String(c.high),
          String(c.low),
          String(c.close),
          String(c.volume),
          ts + step - 1,
          "0",
          1,
          "0",
          "0",
          "0",
        ]);
      }
      return Response.json(rows);
    }
    return Response.json({ code: -1, msg: `Not served: ${url.pathname}` }, { status: 404 });
  });
  const addr = server.addr as Deno.NetAddr;
  const close = async () => {
    await server.shutdown();
  };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    requests,
    failNext: (...s) => void failures.push(...s),
    close,
    [Symbol.asyncDispose]: close,
  };
}
