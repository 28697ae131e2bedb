import assert from "node:assert/strict";
import { buildCcxtClient, rewriteApiUrls } from "./ccxt.ts";
import { mapCcxtError } from "./ccxt_map.ts";
import { AuthError, RateLimitedError, RejectedError, TemporaryError } from "../core/errors.ts";
import { ExchangeMaintenanceError, OrderOutcomeUnknownError } from "./port.ts";

Deno.test("EXCHANGE_API_URL replaces scheme and host of every endpoint and keeps the paths", () => {
  const api = rewriteApiUrls({
    public: "https://api.binance.com/api/v3",
    sapi: "https://api.binance.com/sapi/v1",
    nested: { fapi: "https://fapi.binance.com/fapi/v1/" },
  }, "http://127.0.0.1:9000/ignored");
  assert.deepEqual(api, {
    public: "http://127.0.0.1:9000/api/v3",
    sapi: "http://127.0.0.1:9000/sapi/v1",
    nested: { fapi: "http://127.0.0.1:9000/fapi/v1" },
  });
});

Deno.test({
  name: "sandbox mode uses the exchange's test endpoints, still rewritten by EXCHANGE_API_URL",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const sandbox = await buildCcxtClient({ id: "binance", mode: "sandbox", timeoutMs: 1000 });
    assert.match(String(sandbox.urls.api.public), /testnet/);
    const local = await buildCcxtClient({
      id: "binance",
      mode: "sandbox",
      timeoutMs: 1000,
      apiUrl: "http://127.0.0.1:9000",
    });
    const urls = Object.values(local.urls.api as Record<string, unknown>)
      .filter((v): v is string => typeof v === "string");
    assert.ok(urls.length > 0 && urls.every((u) => u.startsWith("http://127.0.0.1:9000/")));
    assert.deepEqual(local.options.fetchMarkets.types, ["spot"]);
  },
});

Deno.test("an unknown EXCHANGE_ID is a configuration error that says what to use", async () => {
  await assert.rejects(
    () => buildCcxtClient({ id: "nosuchexchange", mode: "live", timeoutMs: 1000 }),
    /EXCHANGE_ID "nosuchexchange" is not an exchange ccxt knows/,
  );
});

Deno.test("ccxt errors map once into what the caller does next, keeping the cause", async () => {
  // deno-lint-ignore no-explicit-any
  const ccxt: any = (await import("ccxt")).default;
  const map = (e: Error, creating = false, retryAfter?: string) =>
    mapCcxtError(ccxt, e, 'Placing order "c-1"', creating, retryAfter);
  const limited = map(new ccxt.DDoSProtection("429"), false, "7");
  assert.ok(limited instanceof RateLimitedError && limited.retryAfterMs === 7000);
  assert.ok(map(new ccxt.RateLimitExceeded("x")) instanceof RateLimitedError);
  assert.ok(map(new ccxt.OnMaintenance("x")) instanceof ExchangeMaintenanceError);
  assert.ok(map(new ccxt.AuthenticationError("x")) instanceof AuthError);
  assert.ok(map(new ccxt.InsufficientFunds("x")) instanceof RejectedError);
  assert.ok(map(new ccxt.BadRequest("x")) instanceof RejectedError);
  const timeout = map(new ccxt.RequestTimeout("x"), true);
  assert.ok(timeout instanceof OrderOutcomeUnknownError);
  assert.ok((timeout as Error).cause instanceof ccxt.RequestTimeout);
  assert.ok(!(map(new ccxt.RequestTimeout("x")) instanceof OrderOutcomeUnknownError));
  assert.ok(map(new ccxt.NetworkError("x")) instanceof TemporaryError);
  assert.ok(map(new ccxt.OperationFailed("-1000"), true) instanceof OrderOutcomeUnknownError);
  assert.match(
    (map(new Error("signature=abcdef123 failed")) as Error).message,
    /signature=\[REDACTED\]/,
  );
});
