/**
 * The whole path as an operator runs it: a real `serve` process, a TradingView alert posted to
 * its webhook, one order on a Binance-compatible exchange (through the real ccxt client), its
 * fill, the position and balanced ledger legs, and the operator's Telegram message (through
 * the real grammY client). A repeated alert changes nothing.
 */
import assert from "node:assert/strict";
import { testDb } from "../helpers/db.ts";
import { spawnServe } from "../helpers/process.ts";
import { startFakeExchange } from "../fakes/exchange.ts";
import { startFakeTelegram } from "../fakes/telegram.ts";
import { openEmbeddedDb } from "../../db/embedded.ts";
import type { Db } from "../../db/db.ts";
import { serviceTest, until } from "../helpers/fixtures.ts";

const TOKEN = "e2e-webhook-token-0123456789abcdefghij";
const CHAT_ID = 777001;

Deno.test({
  name:
    "a Pine alert becomes exactly one order, a fill, a position, ledger legs and a Telegram message",
  ...serviceTest,
  fn: async () => {
    const t = await testDb({ onDisk: true });
    const exchange = startFakeExchange();
    const telegram = await startFakeTelegram();
    let db: Db | undefined;
    try {
      await t.db.query("insert into telegram_chats (chat_id, label) values ($1, 'operator')", [
        CHAT_ID,
      ]);
      await t.db.query("insert into strategies (name, risk_pct) values ('e2e', 1)");
      if (t.kind === "embedded") await t.db.close();
      const env: Record<string, string> = {
        ...(t.url ? { DATABASE_URL: t.url } : { DATA_DIR: t.dataDir! }),
        PINE_WEBHOOK_TOKEN: TOKEN,
        EXCHANGE_MODE: "live",
        BROKER_API_KEY: "e2e-key",
        BROKER_API_SECRET: "e2e-secret",
        EXCHANGE_API_URL: exchange.url,
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_URL: telegram.apiRoot,
      };
      const serve = await spawnServe(env);
      const alert = {
        symbol: "BINANCE:BTCUSDT",
        side: "buy",
        strategy: "e2e",
        qty: "0.002",
        sl: "49000",
        idempotency_key: "e2e-1",
        auth_token: TOKEN,
      };
      const post = () =>
        fetch(`${serve.url}/alerts/pine`, {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: JSON.stringify(alert),
        });
      const first = await post();
      assert.equal(first.status, 202);
      const { alert_id } = await first.json();
      assert.ok(alert_id);

      const entries = () => exchange.orders.filter((o) => o.type !== "STOP_LOSS_LIMIT");
      const stops = () => exchange.orders.filter((o) => o.type === "STOP_LOSS_LIMIT");
      await until("one order on the exchange", () => entries().length === 1);
      await until("its protective stop on the exchange", () => stops().length === 1);
      await until(
        "the fill notification",
        () => telegram.messages.some((m) => /Bought/.test(m.text)),
      );
      const again = await post();
      assert.equal(again.status, 200);
      assert.deepEqual(await again.json(), { alert_id, status: "duplicate" });
      assert.equal(await serve.stop(), 0);
      for (const line of serve.lines) {
        assert.ok(!line.includes(TOKEN) && !line.includes(telegram.token), "no secret is logged");
      }

      assert.equal(entries().length, 1, "the repeated alert placed nothing");
      assert.equal(stops().length, 1, "one stop rests on the exchange");
      assert.deepEqual([stops()[0].origQty, stops()[0].stopPrice], [
        "0.00200000",
        "49000.00000000",
      ]);
      db = t.kind === "embedded" ? await openEmbeddedDb({ dataDir: t.dataDir }) : t.db;
      const orders = await db.query<
        { client_order_id: string; status: string; filled_qty: string; qty: string }
      >(
        `select client_order_id, status, filled_qty::text, qty::text from orders
          where purpose = 'entry'`,
      );
      assert.equal(orders.length, 1);
      assert.equal(orders[0].status, "FILLED");
      assert.equal(Number(orders[0].filled_qty), 0.002);
      assert.equal(exchange.orders[0].clientOrderId, orders[0].client_order_id);

      const [pos] = await db.query<{ qty: string; status: string; stop_price: string }>(
        "select qty::text, status, stop_price::text from positions where symbol = 'BTC/USDT'",
      );
      assert.deepEqual([Number(pos.qty), pos.status, Number(pos.stop_price)], [
        0.002,
        "OPEN",
        49000,
      ]);
      const legs = await db.query<{ asset: string; amount: string }>(
        `select asset, sum(amount)::text as amount from transactions
          where account = 'main' and order_id is not null group by asset order by asset`,
      );
      const byAsset = Object.fromEntries(legs.map((l) => [l.asset, Number(l.amount)]));
      const cost = Number(exchange.orders[0].cummulativeQuoteQty);
      assert.equal(byAsset.BTC, 0.002);
      assert.ok(Math.abs(byAsset.USDT + cost * 1.001) < 1e-9, `USDT legs ${byAsset.USDT}`);

      const [a] = await db.query<{ status: string; raw_body: string }>(
        "select status, raw_body from inbound_alerts where id = $1",
        [alert_id],
      );
      assert.equal(a.status, "EXECUTED");
      assert.ok(!a.raw_body.includes(TOKEN), "the stored body has no token");
      const sent = telegram.messages.filter((m) => m.chatId === CHAT_ID);
      assert.ok(sent.some((m) => m.text.includes("BTC/USDT")));
    } finally {
      if (db && db !== t.db) await db.close();
      await exchange.close();
      await telegram.close();
      await t.close();
    }
  },
});
