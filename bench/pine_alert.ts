/**
 * The Pine alert the webhook benchmarks send (a module for them, not a benchmark: run alone it
 * does nothing): distinct keys, two symbols in both notations, buys and sells.
 */

/** The shared token of the webhook benchmarks (32+ characters, as serve requires). */
export const BENCH_TOKEN = "bench-token-0123456789abcdef0123456789";

/** The JSON body of alert `n` of strategy "bench". */
export function benchAlertBody(n: number, token = BENCH_TOKEN): string {
  return JSON.stringify({
    symbol: n % 2 ? "BINANCE:BTCUSDT" : "ETH/USDT",
    side: n % 3 ? "buy" : "sell",
    strategy: "bench",
    qty: "0.001",
    price: String(50_000 + (n % 100)),
    ts: new Date().toISOString(),
    idempotency_key: `bench-${n}`,
    auth_token: token,
  });
}
