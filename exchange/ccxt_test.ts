import assert from "node:assert/strict";
import { buildCcxtClient, rewriteApiUrls } from "./ccxt.ts";

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
