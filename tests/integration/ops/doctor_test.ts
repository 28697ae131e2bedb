/** doctor's exchange checks: a key that can withdraw and a clock off the exchange's are warned about. */
import assert from "node:assert/strict";
import { runCli } from "../../helpers/process.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

async function doctor(skewMs: number, enableWithdrawals: boolean) {
  const exchange = startFakeExchange({ now: () => Date.now() + skewMs, enableWithdrawals });
  const dataDir = await Deno.makeTempDir({ prefix: "pgsl-doctor-" });
  try {
    return await runCli(["doctor"], {
      DATA_DIR: dataDir,
      EXCHANGE_MODE: "live",
      BROKER_API_KEY: "doctor-key",
      BROKER_API_SECRET: "doctor-secret-value",
      EXCHANGE_API_URL: exchange.url,
    });
  } finally {
    await exchange.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test({
  name: "doctor warns when the API key can withdraw and when the clock is off by more than 1 s",
  ...serviceTest,
  fn: async () => {
    const bad = await doctor(5_000, true);
    assert.match(bad.stdout, /clock .*WARNING: local clock is \d+ ms behind binance/);
    assert.match(bad.stdout, /api key .*WARNING: this API key can withdraw/);
    assert.doesNotMatch(bad.stdout + bad.stderr, /doctor-secret-value/);
    const good = await doctor(0, false);
    assert.match(good.stdout, /clock .*local clock is \d+ ms/);
    assert.doesNotMatch(good.stdout, /WARNING/);
    assert.match(good.stdout, /cannot withdraw \(good\)/);
  },
});
