/**
 * POST /alerts/pine against a real database: every status code, both token places, the size
 * limit, invalid bodies, dedupe under a concurrent storm, and the token never stored.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { pineHandler } from "../../../signals/webhook.ts";
import { workQueue } from "../../../runtime/context.ts";
import type { Config } from "../../../core/config.ts";
import { logger } from "../../../core/log.ts";
import { DatabaseUnavailableError } from "../../../core/errors.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const TOKEN = "pine-token-0123456789abcdef0123456789";
const t = await testDb();
const { db } = t;
await db.query("insert into strategies (name, confidence_min) values ('trend', 0.5)");
await db.query("insert into strategies (name, enabled) values ('off', false)");
await db.query("insert into telegram_chats (chat_id, min_severity) values (1, 'INFO')");

const config = (pine: Partial<Config["pine"]> = {}) =>
  ({
    pine: { token: TOKEN, trustProxy: false, ...pine },
    exchange: { id: "binance" },
  }) as Pick<Config, "pine" | "exchange">;

const queue = workQueue<number>();
const handle = pineHandler({ db, config: config(), log: logger("test"), queue });

let seq = 0;
const alert = (over: Record<string, unknown> = {}) => ({
  symbol: "BINANCE:BTCUSDT",
  side: "buy",
  strategy: "trend",
  qty: "0.01",
  price: 50000,
  idempotency_key: `k-${++seq}`,
  ...over,
});

async function post(
  body: unknown,
  options: { headers?: Record<string, string>; remote?: string; via?: typeof handle } = {},
) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const req = new Request("http://local/alerts/pine", {
    method: "POST",
    headers: { "content-type": "application/json", "x-auth-token": TOKEN, ...options.headers },
    body: text,
  });
  const res = await (options.via ?? handle)(req, { remoteAddr: options.remote ?? "127.0.0.1" });
  return { status: res.status, body: await res.json() };
}

const alertRow = async (id: number) =>
  (await db.query<Record<string, unknown>>("select * from inbound_alerts where id = $1", [id]))[0];

const count = async () =>
  (await db.query<{ n: number }>("select count(*)::int8 as n from inbound_alerts"))[0].n;

Deno.test({
  name: "pine webhook",
  ...serviceTest,
  async fn(tt) {
    try {
      await tt.step(
        "a valid alert is 202, stored RECEIVED with its decision, and queued",
        async () => {
          const r = await post(alert({ idempotency_key: "first" }));
          assert.equal(r.status, 202);
          assert.equal(r.body.status, "accepted");
          const row = await alertRow(r.body.alert_id);
          assert.equal(row.status, "RECEIVED");
          assert.equal(row.source, "pine");
          const d = row.decision as Record<string, unknown>;
          assert.equal(d.symbol, "BTC/USDT");
          assert.equal(d.action, "buy");
          assert.equal(d.qty, "0.01");
          assert.equal(d.price, "50000");
          assert.equal(d.sl, "49000");
          assert.equal(d.tp, "52000");
          assert.equal(d.idempotencyKey, "first");
          assert.deepEqual(queue.drain(), [r.body.alert_id]);
        },
      );

      await tt.step("the same key and payload is a 200 duplicate of the first alert", async () => {
        const r = await post(alert({ idempotency_key: "first" }));
        assert.equal(r.status, 200);
        assert.equal(r.body.status, "duplicate");
        const [first] = await db.query<{ alert_id: number }>(
          "select alert_id from inbound_dedupe_keys where idempotency_key = 'first'",
        );
        assert.equal(r.body.alert_id, first.alert_id);
        assert.deepEqual(queue.drain(), []);
      });

      await tt.step("the same key with another payload is a 409, stored REJECTED", async () => {
        const r = await post(alert({ idempotency_key: "first", qty: "0.02" }));
        assert.equal(r.status, 409);
        assert.match(r.body.error, /different payload/);
        assert.equal((await alertRow(r.body.alert_id)).status, "REJECTED");
        const warns = await db.query(
          "select 1 from notification_outbox where severity = 'WARN' and text like '%different payload%'",
        );
        assert.equal(warns.length, 1);
      });

      await tt.step("the token in the body works and is never stored", async () => {
        const r = await post(alert({ auth_token: TOKEN }), { headers: { "x-auth-token": "" } });
        assert.equal(r.status, 202);
        const row = await alertRow(r.body.alert_id);
        assert.ok(!String(row.raw_body).includes(TOKEN));
        assert.ok(!JSON.stringify(row.payload).includes(TOKEN));
        assert.ok(!("auth_token" in (row.payload as object)));
        const [leak] = await db.query<{ n: number }>(
          `select count(*)::int8 as n from inbound_alerts
            where raw_body like '%' || $1 || '%' or payload::text like '%' || $1 || '%'`,
          [TOKEN],
        );
        assert.equal(leak.n, 0);
      });

      await tt.step("a missing or wrong token is 401 and nothing is stored", async () => {
        const before = await count();
        const wrong = TOKEN.slice(0, -1) + (TOKEN.endsWith("9") ? "8" : "9");
        assert.equal(wrong.length, TOKEN.length);
        assert.equal((await post(alert(), { headers: { "x-auth-token": wrong } })).status, 401);
        assert.equal(
          (await post(alert({ auth_token: wrong }), { headers: { "x-auth-token": "" } })).status,
          401,
        );
        assert.equal((await post(alert(), { headers: { "x-auth-token": "" } })).status, 401);
        assert.equal((await post("not json", { headers: { "x-auth-token": "" } })).status, 401);
        assert.equal(await count(), before);
        assert.equal(handle.stats.unauthorized, 4);
      });

      await tt.step("a text/plain body holding JSON is accepted", async () => {
        const r = await post(alert(), { headers: { "content-type": "text/plain; charset=utf-8" } });
        assert.equal(r.status, 202);
      });

      await tt.step("a body of 64 KiB + 1 byte is 413 and not stored", async () => {
        const before = await count();
        const base = JSON.stringify(alert());
        const big = base.slice(0, -1) + `,"pad":"${"x".repeat(65537 - base.length - 9)}"}`;
        assert.equal(new TextEncoder().encode(big).length, 65537);
        assert.equal((await post(big)).status, 413);
        // Streamed without a content-length: still cut off.
        const stream = new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode(big));
            c.close();
          },
        });
        const req = new Request("http://local/alerts/pine", {
          method: "POST",
          headers: { "x-auth-token": TOKEN },
          body: stream,
        });
        assert.equal((await handle(req, { remoteAddr: "127.0.0.1" })).status, 413);
        assert.equal(await count(), before);
        // Exactly the limit is fine.
        const exact = big.slice(0, -3) + '"}';
        assert.equal(new TextEncoder().encode(exact).length, 65536);
        assert.equal((await post(exact)).status, 202);
      });

      const invalid = async (body: unknown, pattern: RegExp) => {
        const r = await post(body);
        assert.equal(r.status, 422, JSON.stringify(r.body));
        assert.equal(r.body.status, "rejected");
        assert.match(r.body.error, pattern);
        const row = await alertRow(r.body.alert_id);
        assert.match(String(row.error), pattern);
        assert.ok(["INVALID", "REJECTED"].includes(String(row.status)));
        return row;
      };

      await tt.step("malformed JSON is 422 and stored INVALID with the error", async () => {
        const row = await invalid('{"symbol": "BTC/USDT", ', /not valid JSON/);
        assert.equal(row.status, "INVALID");
        // A body that is not JSON but holds the token: refused with nothing stored, since an
        // undecoded body cannot be searched for every escaped form of it.
        const before = await count();
        for (
          const body of [
            `{"auth_token": "${TOKEN}", "side": buy}`,
            `{"auth_token": "${TOKEN}" "side": 1}`,
          ]
        ) {
          const r = await post(body);
          assert.equal(r.status, 422);
          assert.match(r.body.error, /token appears in a field/);
          assert.ok(!JSON.stringify(r.body).includes(TOKEN.slice(0, 8)));
        }
        assert.equal(await count(), before);
      });

      await tt.step(
        "a body that is not JSON with the token as its auth_token is a 422 saying why, not a 401",
        async () => {
          // What TradingView posts (text/plain, the token in the body) for a message with a
          // JSON mistake: a trailing comma, an unquoted placeholder, curly quotes, plain text.
          const bodies = [
            `{"symbol": "BINANCE:BTCUSDT", "side": "buy", "strategy": "trend", "auth_token": "${TOKEN}",}`,
            `{"symbol": BINANCE:BTCUSDT, "side": "buy", "strategy": "trend", "auth_token": "${TOKEN}"}`,
            `{“symbol”: “BINANCE:BTCUSDT”, “side”: “buy”, “auth_token”: “${TOKEN}”}`,
            `buy BTCUSDT auth_token=${TOKEN}`,
          ];
          for (const body of bodies) {
            const r = await post(body, {
              headers: { "content-type": "text/plain; charset=utf-8", "x-auth-token": "" },
            });
            assert.equal(r.status, 422, `${body}: ${JSON.stringify(r.body)}`);
            assert.equal(r.body.status, "rejected");
            assert.match(r.body.error, /^Body is not valid JSON/);
            const row = await alertRow(r.body.alert_id);
            assert.equal(row.status, "INVALID");
            assert.match(String(row.error), /not valid JSON/);
            assert.ok(!String(row.raw_body).includes(TOKEN), String(row.raw_body));
          }
          const wrong = TOKEN.slice(0, -1) + (TOKEN.endsWith("9") ? "8" : "9");
          const before = await count();
          const r = await post(`{"side": buy, "auth_token": "${wrong}"}`, {
            headers: { "content-type": "text/plain", "x-auth-token": "" },
          });
          assert.equal(r.status, 401);
          assert.equal(await count(), before);
        },
      );

      await tt.step(
        "a field given twice is a 422 naming it, not the last value traded",
        async () => {
          // JSON.parse keeps the last "side": this alert would have been a buy.
          const body = `{"symbol": "BINANCE:BTCUSDT", "side": "sell", "strategy": "trend", ` +
            `"idempotency_key": "twice-1", "side" : "buy"}`;
          const row = await invalid(body, /side: given more than once/);
          assert.equal(row.status, "INVALID");
          const keyTwice = `{"symbol": "BINANCE:BTCUSDT", "side": "buy", "strategy": "trend", ` +
            `"idempotency_key": "twice-2", "idempotency_key": "twice-3"}`;
          await invalid(keyTwice, /idempotency_key: given more than once/);
          const received = await db.query(
            "select 1 from inbound_alerts where status = 'RECEIVED' and idempotency_key like 'twice-%'",
          );
          assert.equal(received.length, 0);
          // A repeated key inside a nested object or in a field the alert does not read is not
          // the alert's.
          const nested = await post(
            `{"symbol": "BINANCE:BTCUSDT", "side": "buy", "strategy": "trend", ` +
              `"idempotency_key": "twice-4", "meta": {"side": "sell"}, "note": "a", "note": "b"}`,
          );
          assert.equal(nested.status, 202, JSON.stringify(nested.body));
        },
      );

      await tt.step(
        "a NUL character anywhere is a 422 stored with its error, never a 500",
        async () => {
          await invalid(
            alert({ idempotency_key: "nul-\u0000-key", symbol: "BTC/\u0000USDT" }),
            /NUL character/,
          );
          const text = await post(`{"symbol": "BTC/USDT",\u0000 "side": "buy"}`);
          assert.equal(text.status, 422);
          const row = await alertRow(text.body.alert_id);
          assert.ok(!String(row.raw_body).includes("\u0000"));
          const key = await post(alert({ idempotency_key: "nul\u0000key" }));
          assert.notEqual(key.status, 500);
          assert.ok([202, 422].includes(key.status), JSON.stringify(key));
        },
      );

      await tt.step("an idempotency key of the risk agent's form is refused", async () => {
        await invalid(alert({ idempotency_key: "risk:stop_loss:1:0" }), /reserved/);
      });

      await tt.step(
        "a JSON number a double cannot keep as written is refused, not rounded",
        async () => {
          const body = JSON.stringify(alert()).replace(
            '"qty":"0.01"',
            '"qty":0.1234567890123456789',
          );
          const row = await invalid(body, /Number 0\.1234567890123456789 \(qty\) has more digits/);
          assert.equal(row.status, "INVALID");
          // The same digits as a string are taken as written.
          const ok = await post(
            JSON.stringify(alert()).replace('"qty":"0.01"', '"qty":"0.123456789012345678"'),
          );
          assert.equal(ok.status, 202, JSON.stringify(ok.body));
        },
      );

      await tt.step(
        "so is one of the strategy agent's form: it cannot be taken in advance",
        async () => {
          await invalid(
            alert({ idempotency_key: "strategy:ema:BTC/USDT:2026-01-01T00:00:00.000Z:buy" }),
            /"strategy:" are reserved/,
          );
        },
      );

      await tt.step("the token under another field is a 422 and nothing is stored", async () => {
        const before = await count();
        const res = await post(alert({ passphrase: TOKEN, note: `token ${TOKEN}` }));
        assert.equal(res.status, 422);
        assert.equal(res.body.alert_id, undefined);
        assert.equal(await count(), before);
      });

      await tt.step("wrong types, negative and NaN quantities are 422", async () => {
        await invalid(alert({ side: 5 }), /side: expected buy or sell/);
        await invalid(alert({ qty: -1 }), /qty: expected a positive decimal/);
        await invalid(alert({ qty: "NaN" }), /qty: expected a positive decimal/);
        await invalid(alert({ qty: "0" }), /qty: expected a positive decimal/);
        await invalid(alert({ price: "1e5" }), /price: expected a positive decimal/);
        await invalid(alert({ confidence: 2 }), /confidence: expected a number from 0 to 1/);
        await invalid(alert({ ts: "yesterday" }), /ts: expected an ISO-8601 time/);
        await invalid({ side: "buy" }, /symbol: is required.*strategy: is required/);
        await invalid([1, 2], /JSON object/);
      });

      await tt.step("an unknown symbol or another exchange is 422", async () => {
        await invalid(alert({ symbol: "BINANCE:FOOBAR" }), /unknown on binance/);
        await invalid(alert({ symbol: "COINBASE:BTCUSD" }), /for exchange COINBASE/);
        await invalid(alert({ symbol: "BTC-USDT!" }), /is not a symbol/);
      });

      await tt.step("an unknown or disabled strategy is 422 with a WARN queued", async () => {
        const row = await invalid(alert({ strategy: "ghost" }), /Strategy "ghost" is unknown/);
        assert.equal(row.status, "REJECTED");
        await invalid(alert({ strategy: "off" }), /Strategy "off" is disabled/);
        await invalid(alert({ strategy: "ghost", idempotency_key: "other" }), /unknown/);
        const warns = await db.query<{ text: string }>(
          "select text from notification_outbox where text like '%ghost%'",
        );
        assert.equal(warns.length, 1, "one WARN per distinct error");
      });

      await tt.step("a confidence under the strategy's floor is 422", async () => {
        await invalid(alert({ confidence: 0.4 }), /below the floor 0.5/);
        assert.equal((await post(alert({ confidence: "0.7" }))).status, 202);
      });

      await tt.step("a delayed symbol and a unified one are both accepted", async () => {
        const a = await post(alert({ symbol: "BINANCE_DL:ETHUSDT", price: undefined }));
        assert.equal(a.status, 202);
        const d = (await alertRow(a.body.alert_id)).decision as Record<string, unknown>;
        assert.equal(d.symbol, "ETH/USDT");
        assert.equal(d.sl, undefined, "no price: execution derives the stop");
        assert.equal((await post(alert({ symbol: "ETH/BTC" }))).status, 202);
      });

      await tt.step("without a key, the derived key makes a re-send a duplicate", async () => {
        const body = alert({ idempotency_key: undefined, ts: "2026-01-01T00:00:00Z" });
        const a = await post(body);
        const b = await post({ ...body, price: "50000.00" });
        assert.equal(a.status, 202);
        assert.equal(b.status, 200);
        assert.equal(b.body.alert_id, a.body.alert_id);
      });

      await tt.step("50 identical alerts at once give exactly one RECEIVED decision", async () => {
        const body = alert({ idempotency_key: "storm" });
        const results = await Promise.all(Array.from({ length: 50 }, () => post(body)));
        const statuses = results.map((r) => r.status).sort();
        assert.equal(statuses.filter((s) => s === 202).length, 1);
        assert.equal(statuses.filter((s) => s === 200).length, 49);
        const [n] = await db.query<{ received: number; dup: number }>(
          `select count(*) filter (where status = 'RECEIVED')::int8 as received,
                  count(*) filter (where status = 'DUPLICATE')::int8 as dup
             from inbound_alerts where idempotency_key = 'storm'`,
        );
        assert.equal(n.received, 1);
        assert.equal(n.dup, 49);
      });

      await tt.step("an address outside the allowlist is 403", async () => {
        const guarded = pineHandler({
          db,
          config: config({ ipAllowlist: ["52.89.214.238", "10.1.0.0/16"] }),
          log: logger("test"),
        });
        assert.equal((await post(alert(), { via: guarded, remote: "1.2.3.4" })).status, 403);
        assert.equal((await post(alert(), { via: guarded, remote: "10.1.2.3" })).status, 202);
        const spoof = { "x-forwarded-for": "52.89.214.238" };
        assert.equal(
          (await post(alert(), { via: guarded, remote: "1.2.3.4", headers: spoof })).status,
          403,
          "X-Forwarded-For is ignored unless TRUST_PROXY",
        );
        const proxied = pineHandler({
          db,
          config: config({ ipAllowlist: ["52.89.214.238"], trustProxy: true }),
          log: logger("test"),
        });
        const r = await post(alert(), {
          via: proxied,
          remote: "127.0.0.1",
          headers: { "x-forwarded-for": "9.9.9.9, 52.89.214.238" },
        });
        assert.equal(r.status, 202);
        assert.equal((await alertRow(r.body.alert_id)).remote_addr, "52.89.214.238");
      });

      await tt.step("a database outage is 503, never a crash", async () => {
        const down = {
          ...db,
          query: () => Promise.reject(new DatabaseUnavailableError("Cannot reach the database")),
          transaction: () =>
            Promise.reject(new DatabaseUnavailableError("Cannot reach the database")),
        } as unknown as Db;
        const h = pineHandler({ db: down, config: config(), log: logger("test") });
        const r = await post(alert(), { via: h });
        assert.equal(r.status, 503);
        assert.equal(h.stats.unavailable, 1);
      });
    } finally {
      await t.close();
    }
  },
});
