/**
 * The operator's CLI against a running `serve` (live mode on the fake Binance through ccxt, the
 * webhook taking TradingView alerts): `pause` stops the next entry while the webhook still
 * accepts it, `status` shows why, `resume` trades again, `exit --yes` sells the position once,
 * `cancel` cancels a resting order on the exchange. With the embedded database every command
 * goes through serve's socket.
 */
import assert from "node:assert/strict";
import { testDb } from "../helpers/db.ts";
import { runCli, spawnServe } from "../helpers/process.ts";
import { startFakeExchange } from "../fakes/exchange.ts";
import { serviceTest, until } from "../helpers/fixtures.ts";

const TOKEN = "control-webhook-token-0123456789abcdef";

Deno.test({
  name: "pause, status, resume, exit and cancel from the CLI act on a running serve",
  ...serviceTest,
  fn: async () => {
    const t = await testDb({ onDisk: true });
    const exchange = startFakeExchange();
    try {
      await t.db.query("insert into strategies (name) values ('ops')");
      if (t.kind === "embedded") await t.db.close();
      const env: Record<string, string> = {
        ...(t.url ? { DATABASE_URL: t.url } : { DATA_DIR: t.dataDir! }),
        PINE_WEBHOOK_TOKEN: TOKEN,
        EXCHANGE_MODE: "live",
        // The commands' own orders are counted; an exit with a stop resting on the exchange is
        // tested in tests/integration/execution/protective_test.ts.
        EXCHANGE_STOPS: "false",
        BROKER_API_KEY: "control-key",
        BROKER_API_SECRET: "control-secret",
        EXCHANGE_API_URL: exchange.url,
        USER: "ops",
      };
      await using serve = await spawnServe(env);
      const cli = async (...args: string[]) => {
        const r = await runCli(args, env);
        return { ...r, out: r.stdout + r.stderr };
      };
      const post = async (alert: Record<string, unknown>) => {
        const res = await fetch(`${serve.url}/alerts/pine`, {
          method: "POST",
          body: JSON.stringify({ symbol: "BTCUSDT", strategy: "ops", auth_token: TOKEN, ...alert }),
        });
        assert.equal(res.status, 202, await res.clone().text());
        return (await res.json()).alert_id as number;
      };
      const orders = async () =>
        JSON.parse((await cli("orders", "list", "--json")).stdout) as {
          side: string;
          status: string;
          id: number;
        }[];

      const paused = await cli("pause", "--reason", "maintenance window");
      assert.equal(paused.code, 0, paused.out);
      assert.match(paused.stdout, /paused \(maintenance window\)/);
      const again = await cli("pause");
      assert.equal(again.code, 1, "already paused");
      const status = await cli("status", "--json");
      const s = JSON.parse(status.stdout);
      assert.equal(s.accounts[0].paused[0].reason, "maintenance window");

      // Accepted by the webhook, not traded, the reason on the alert.
      assert.match((await cli("status")).stdout, /default: .*entries are paused/);
      const refusedId = await post({ side: "buy", qty: "0.01", idempotency_key: "cli-1" });
      if (t.url) {
        // The server database can be read beside serve: the refusal is on the alert.
        const [a] = await until("the paused entry to be refused", async () => {
          const rows = await t.db.query<{ status: string; error: string }>(
            "select status, error from inbound_alerts where id = $1 and status not in ('RECEIVED', 'PROCESSING')",
            [refusedId],
          );
          return rows.length > 0 ? rows : undefined;
        });
        assert.equal(a.status, "REJECTED");
        assert.match(a.error, /entries are paused \(operator: maintenance window\)/);
      } else {
        // The embedded one belongs to serve: give execution several of its 2 s polls.
        await new Promise((r) => setTimeout(r, 5_000));
      }
      assert.equal(exchange.orders.length, 0, "nothing was ordered while paused");

      assert.equal((await cli("resume")).code, 0);
      await post({ side: "buy", qty: "0.01", idempotency_key: "cli-2" });
      await until("the entry after resume", () => exchange.orders.length === 1);

      // exit without --yes and without a terminal: refused, nothing sold.
      await until(
        "the position",
        async () => /Open positions \(1\)/.test((await cli("status")).stdout) ? true : undefined,
      );
      const unconfirmed = await cli("exit", "BTC/USDT");
      assert.equal(unconfirmed.code, 2, unconfirmed.out);
      const exited = await cli("exit", "BTC/USDT", "--yes");
      assert.equal(exited.code, 0, exited.out);
      assert.match(exited.stdout, /handed to execution/);
      await until("the exit sell", () => exchange.orders.length === 2);
      assert.equal(exchange.orders[1].side, "SELL");
      const twice = await cli("exit", "BTC/USDT", "--yes");
      assert.equal(twice.code, 1, "no open position is left to exit");

      // A resting limit far below the market, cancelled through serve.
      await post({ side: "buy", qty: "0.01", price: "30000", idempotency_key: "cli-3" });
      const resting = await until(
        "the resting order",
        async () => (await orders()).find((o) => o.status === "OPEN"),
      );
      const cancelled = await cli("cancel", String(resting.id));
      assert.equal(cancelled.code, 0, cancelled.out);
      await until(
        "the order cancelled on the exchange",
        async () => (await orders()).find((o) => o.id === resting.id && o.status === "CANCELED"),
      );
      assert.equal(exchange.orders.at(-1)?.status, "CANCELED");
      assert.equal(exchange.orders.length, 3, "nothing else was sent");
    } finally {
      await exchange.close();
      await t.close();
    }
  },
});
