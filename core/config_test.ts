import assert from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";

Deno.test("defaults: embedded database, paper mode, loopback, BTC/USDT", () => {
  const c = loadConfig({});
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.dataDir, "./data");
  assert.equal(c.exchange.mode, "paper");
  assert.equal(c.exchange.id, "binance");
  assert.deepEqual(c.http, { host: "127.0.0.1", port: 8080 });
  assert.deepEqual(c.symbols, ["BTC/USDT"]);
  assert.equal(c.risk.perTradePct, 1);
  assert.equal(c.pine.token, undefined);
});

Deno.test("every problem is reported together and no secret value appears", () => {
  const secret = "short-but-secret";
  try {
    loadConfig({
      HTTP_PORT: "99999",
      PINE_WEBHOOK_TOKEN: secret,
      RISK_PER_TRADE_PCT: "5",
      EXCHANGE_MODE: "yolo",
      TELEGRAM_BOT_TOKEN: "not-a-token-secret-value",
      DATABASE_URL: "mysql://u:p@h/db",
    });
    assert.fail("expected a ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    const vars = error.problems.map((p) => p.split(":")[0]);
    assert.deepEqual(vars.sort(), [
      "DATABASE_URL",
      "EXCHANGE_MODE",
      "HTTP_PORT",
      "PINE_WEBHOOK_TOKEN",
      "RISK_PER_TRADE_PCT",
      "TELEGRAM_BOT_TOKEN",
    ]);
    assert.ok(!error.message.includes(secret));
    assert.ok(!error.message.includes("not-a-token-secret-value"));
    assert.ok(!error.message.includes("u:p@"));
    assert.match(error.message, /PINE_WEBHOOK_TOKEN: must be at least 32 characters/);
  }
});

Deno.test("live mode needs both exchange keys", () => {
  assert.throws(() => loadConfig({ EXCHANGE_MODE: "live" }), /BROKER_API_KEY, BROKER_API_SECRET/);
  assert.throws(() => loadConfig({ BROKER_API_KEY: "k" }), /set both or neither/);
  const c = loadConfig({ EXCHANGE_MODE: "live", BROKER_API_KEY: "k", BROKER_API_SECRET: "s" });
  assert.equal(c.exchange.apiKey, "k");
});

Deno.test("lists are split, trimmed and checked; empty values count as unset", () => {
  const c = loadConfig({
    SYMBOLS: " BTC/USDT, ETH/USDT ,",
    PINE_IP_ALLOWLIST: "52.89.214.238, 34.212.75.30",
    HTTP_PORT: "",
    TRUST_PROXY: "yes",
  });
  assert.deepEqual(c.symbols, ["BTC/USDT", "ETH/USDT"]);
  assert.deepEqual(c.pine.ipAllowlist, ["52.89.214.238", "34.212.75.30"]);
  assert.equal(c.http.port, 8080);
  assert.equal(c.pine.trustProxy, true);
  assert.throws(() => loadConfig({ SYMBOLS: "btcusdt" }), /SYMBOLS/);
  assert.throws(() => loadConfig({ EMA_FAST: "30", EMA_SLOW: "20" }), /EMA_FAST/);
});

Deno.test("TELEGRAM_ADMIN_IDS is a comma list of user ids; nobody by default", () => {
  assert.deepEqual(loadConfig({}).telegram.adminIds, []);
  assert.deepEqual(
    loadConfig({ TELEGRAM_ADMIN_IDS: " 12345678, 87654321,12345678," }).telegram.adminIds,
    [12345678, 87654321],
  );
  for (const bad of ["@alice", "-100123", "12.5", "0", "1234567890123456789"]) {
    assert.throws(
      () => loadConfig({ TELEGRAM_ADMIN_IDS: bad }),
      /TELEGRAM_ADMIN_IDS.*expected Telegram user ids/,
      bad,
    );
  }
});

Deno.test("BACKUP_TIMEOUT_S bounds a backup: 30 minutes by default, 1 s to a day", () => {
  assert.equal(loadConfig({}).backup.timeoutMs, 1_800_000);
  assert.equal(loadConfig({ BACKUP_TIMEOUT_S: "7200" }).backup.timeoutMs, 7_200_000);
  for (const bad of ["0", "90000", "ten"]) {
    assert.throws(
      () => loadConfig({ BACKUP_TIMEOUT_S: bad }),
      /BACKUP_TIMEOUT_S: expected a whole number from 1 to 86400/,
    );
  }
});
