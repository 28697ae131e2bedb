/**
 * doctor checks every enabled account: a live one's keys in the environment (named, never
 * shown), whether its key can trade and cannot withdraw (asked of its own exchange), and a paper
 * one needs nothing; a disabled account is not checked.
 */
import assert from "node:assert/strict";
import { cliDb } from "../../helpers/cli_db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";

const SECRET = "alice-secret-value-0123456789";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

Deno.test({
  ...serviceTest,
  name: "doctor checks each account's keys and permissions and never prints a secret",
  fn: async () => {
    await using t = await cliDb({ EXCHANGE_API_URL: "http://127.0.0.1:9" });
    for (
      const argv of [["alice", "--mode", "live"], ["bob"], ["carol", "--mode", "sandbox"]]
    ) {
      assert.equal((await t.cli(["accounts", "add", ...argv])).code, 0);
    }
    const doctor = async (env: Record<string, string>) => {
      const r = await t.cli(["doctor", "--json"], env);
      assert.ok(!(r.out + r.err).includes(SECRET), "the secret is never printed");
      const report = JSON.parse(r.out) as { ok: boolean; checks: Check[] };
      return { code: r.code, ...report, by: new Map(report.checks.map((c) => [c.name, c])) };
    };

    const good = startFakeExchange();
    const noTrading = startFakeExchange({ enableTrading: false, enableWithdrawals: true });
    try {
      const keys = (url: string) => ({
        ACCOUNT_ALICE_API_KEY: "alice-key-0123456789",
        ACCOUNT_ALICE_API_SECRET: SECRET,
        ACCOUNT_ALICE_API_URL: url,
      });
      let d = await doctor(keys(good.url));
      assert.equal(d.code, 1, "carol has no keys");
      assert.match(d.by.get("accounts")!.detail, /default \(paper on binance\), alice \(live/);
      assert.deepEqual(d.by.get("account carol"), {
        name: "account carol",
        ok: false,
        detail:
          "sandbox on binance: ACCOUNT_CAROL_API_KEY and ACCOUNT_CAROL_API_SECRET are not set",
      });
      assert.equal(d.by.get("account bob")?.detail, "paper on binance: no keys needed");
      assert.equal(d.by.get("account alice")?.ok, true);
      assert.equal(d.by.get("alice api key")?.detail, "can trade; cannot withdraw (good)");
      assert.match(d.by.get("alice clock")?.detail ?? "", /local clock is \d+ ms/);
      assert.ok(good.requests["GET /sapi/v1/account/apiRestrictions"] >= 1);

      const disabled = await t.cli(["accounts", "disable", "carol"]);
      assert.equal(disabled.code, 0, disabled.err);
      d = await doctor(keys(good.url));
      assert.equal(d.code, 0, JSON.stringify(d.checks.filter((c) => !c.ok)));
      assert.equal(d.by.has("account carol"), false, "a disabled account is not checked");

      d = await doctor(keys(noTrading.url));
      assert.equal(d.code, 1);
      const key = d.by.get("alice api key")!;
      assert.equal(key.ok, false);
      assert.match(
        key.detail,
        /cannot trade: enable spot trading.*WARNING: this API key can withdraw/,
      );
    } finally {
      await good.close();
      await noTrading.close();
    }
  },
});
