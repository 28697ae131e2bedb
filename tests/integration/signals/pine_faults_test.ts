/**
 * POST /alerts/pine under faults and hostile input: a 503 is never stored later (the write's
 * own deadline, migration 0009), the token is never stored in any form, malformed bodies and
 * odd content types are 4xx with a reason, and a `ts` far in the future is refused.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { testDb } from "../../helpers/db.ts";
import { pineHandler } from "../../../signals/webhook.ts";
import { workQueue } from "../../../runtime/context.ts";
import type { Config } from "../../../core/config.ts";
import { logger } from "../../../core/log.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";

const TOKEN = "reltok-0123456789abcdef0123456789abcd";
const t = await testDb();
const { db } = t;
await db.query("insert into strategies (name, confidence_min) values ('trend', 0.5)");

const config = { pine: { token: TOKEN, trustProxy: false }, exchange: { id: "binance" } } as Pick<
  Config,
  "pine" | "exchange"
>;
const queue = workQueue<number>();
const handle = pineHandler({ db, config, log: logger("test"), queue });

let seq = 0;
const alert = (over: Record<string, unknown> = {}) => ({
  symbol: "BINANCE:BTCUSDT",
  side: "buy",
  strategy: "trend",
  qty: "0.01",
  idempotency_key: `f-${++seq}`,
  ...over,
});

async function post(body: unknown, headers: Record<string, string> = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const req = new Request("http://local/alerts/pine", {
    method: "POST",
    headers: { "content-type": "application/json", "x-auth-token": TOKEN, ...headers },
    body: text,
  });
  const res = await handle(req, { remoteAddr: "127.0.0.1" });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

const counts = async () =>
  (await db.query<{ alerts: number; keys: number }>(
    `select (select count(*) from inbound_alerts)::int8 as alerts,
            (select count(*) from inbound_dedupe_keys)::int8 as keys`,
  ))[0];

/** Rows of every table that hold the token in any text (the token is plain ASCII). */
async function tokenRows(): Promise<number> {
  const [r] = await db.query<{ n: number }>(
    `select ((select count(*) from inbound_alerts a where a::text like $1) +
             (select count(*) from inbound_dedupe_keys k where k::text like $1) +
             (select count(*) from orders o where o::text like $1) +
             (select count(*) from notification_outbox n where n::text like $1))::int8 as n`,
    // The token's tail: also finds it with its first character escaped ("\\u0072eltok…").
    [`%${TOKEN.slice(1)}%`],
  );
  return r.n;
}

/** Seeded PRNG (mulberry32): the fuzz is the same on every run. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const SPLICES = [
  "\\ud800",
  "\\udfff",
  "\\u0000",
  '"',
  "{",
  "}",
  "[",
  "\\",
  "1e999",
  "-0",
  "null",
  '"\\ud83d"',
  "\u0000",
  "\uFFFF",
  '{"\\ud800":1}',
  "9".repeat(400),
];

function mutate(base: string, next: () => number): string {
  let s = base;
  const edits = 1 + Math.floor(next() * 3);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(next() * (s.length + 1));
    const kind = Math.floor(next() * 4);
    if (kind === 0) s = s.slice(0, at) + SPLICES[Math.floor(next() * SPLICES.length)] + s.slice(at);
    else if (kind === 1) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(next() * 5));
    else if (kind === 2) {
      s = s.slice(0, at) + String.fromCharCode(Math.floor(next() * 0x10000)) + s.slice(at + 1);
    } else s = s.slice(0, at);
  }
  return s;
}

Deno.test({
  name: "pine webhook under faults",
  ...serviceTest,
  async fn(tt) {
    try {
      await tt.step("an escaped auth_token authenticates and is stored masked", async () => {
        const body = JSON.stringify(alert()).replace(
          /}$/,
          `,"auth_token":"\\u0072${TOKEN.slice(1)}"}`,
        );
        const r = await post(body, { "x-auth-token": "" });
        assert.equal(r.status, 202);
        assert.equal(await tokenRows(), 0);
        const [row] = await db.query<{ raw_body: string }>(
          "select raw_body from inbound_alerts where id = $1",
          [r.body.alert_id],
        );
        assert.equal(JSON.parse(row.raw_body).auth_token, "[REDACTED]");
      });

      await tt.step(
        "the token in any other field (or a key, or plain text) is a 422, nothing kept",
        async () => {
          const before = await counts();
          const escaped = `\\u0072${TOKEN.slice(1)}`;
          const bodies = [
            JSON.stringify(alert({ idempotency_key: TOKEN })),
            JSON.stringify(alert()).replace(/"f-\d+"/, `"${escaped}"`),
            JSON.stringify(alert({ note: [`x${TOKEN}y`] })),
            JSON.stringify(alert({ [TOKEN]: 1 })),
            JSON.stringify(alert({ strategy: TOKEN })),
            `buy BTCUSDT ${TOKEN}`,
            // A key given twice: JSON.parse keeps the last value, the raw text holds both.
            JSON.stringify(alert()).replace(/}$/, `,"note":"${escaped}","note":"x"}`),
            JSON.stringify(alert()).replace(/}$/, `,"note":"${TOKEN}","note":"x"}`),
            JSON.stringify(alert()).replace(
              /}$/,
              `,"auth_token":"${escaped}","auth_token":"${TOKEN}"}`,
            ),
            // Not JSON, the token escaped as JSON would escape it.
            `{"note":"${escaped}",}`,
          ];
          for (const body of bodies) {
            const type = body.startsWith("{") ? "application/json" : "text/plain";
            const r = await post(body, { "content-type": type });
            assert.equal(r.status, 422, body);
            assert.match(String(r.body.error), /token appears in a field/);
            assert.equal(r.body.alert_id, undefined);
          }
          assert.deepEqual(await counts(), before);
          assert.equal(await tokenRows(), 0);
        },
      );

      await tt.step("an unpaired surrogate escape is a 422 with a reason", async () => {
        for (
          const body of ['{"\\ud800":1}', JSON.stringify(alert()).replace(/}$/, ',"x":"\\udc00"}')]
        ) {
          const r = await post(body);
          assert.equal(r.status, 422, body);
          assert.match(String(r.body.error), /surrogate/);
        }
      });

      await tt.step("a body nested 30,000 levels deep is a 422, not a 500", async () => {
        const deep = JSON.stringify(alert()).replace(
          /}$/,
          `,"a":${"[".repeat(30_000)}${"]".repeat(30_000)}}`,
        );
        const r = await post(deep);
        assert.equal(r.status, 422);
        assert.match(String(r.body.error), /nests deeper than 32 levels/);
        const shallow = JSON.stringify(alert()).replace(/}$/, ',"a":[[["ok"]]]}');
        assert.equal((await post(shallow)).status, 202, "a little nesting is fine");
      });

      await tt.step(
        "content types: JSON and text in any charset or case, none; else 415",
        async () => {
          for (
            const type of [
              "Application/JSON; charset=UTF-8",
              "text/plain;charset=utf-8",
              "TEXT/PLAIN",
            ]
          ) {
            assert.equal((await post(alert(), { "content-type": type })).status, 202, type);
          }
          const req = new Request("http://local/alerts/pine", {
            method: "POST",
            headers: { "x-auth-token": TOKEN },
            body: new TextEncoder().encode(JSON.stringify(alert())),
          });
          assert.equal(req.headers.get("content-type"), null);
          assert.equal((await handle(req, { remoteAddr: "127.0.0.1" })).status, 202);
          const before = await counts();
          for (const type of ["image/png", "application/gzip", "multipart/form-data; boundary=x"]) {
            const r = await post(alert(), { "content-type": type });
            assert.equal(r.status, 415, type);
            assert.match(String(r.body.error), /application\/json or text\/plain/);
          }
          assert.deepEqual(await counts(), before);
        },
      );

      await tt.step("a ts more than 60 s in the future is a 422; 30 s ahead is skew", async () => {
        const far = await post(alert({ ts: "2099-01-01T00:00:00Z" }));
        assert.equal(far.status, 422);
        assert.match(String(far.body.error), /in the future/);
        const near = await post(alert({ ts: new Date(Date.now() + 30_000).toISOString() }));
        assert.equal(near.status, 202);
      });

      await tt.step("fuzz: 400 seeded mutations of a valid body, never a 5xx", async () => {
        const next = rng(15);
        const base = JSON.stringify(
          alert({ price: 50000, confidence: 0.9, ts: new Date().toISOString() }),
        );
        for (let i = 0; i < 400; i++) {
          const body = mutate(base.replace(/"f-\d+"/, `"z-${i}"`), next);
          const r = await post(body);
          assert.ok(
            r.status < 500,
            `${r.status} for ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`,
          );
        }
      });
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "a webhook write blocked past its deadline is a 503 and never stored; in time it is 202",
  ignore: t.kind !== "server",
  ...serviceTest,
  async fn() {
    const t2 = await testDb();
    const other = postgres(t2.url!, { max: 1, onnotice: () => {} });
    const h = pineHandler({ db: t2.db, config, log: logger("test") });
    await insertStrategy(t2.db, "trend");
    const send = async (key: string) => {
      const req = new Request("http://local/alerts/pine", {
        method: "POST",
        headers: { "content-type": "application/json", "x-auth-token": TOKEN },
        body: JSON.stringify(alert({ idempotency_key: key })),
      });
      return (await h(req, { remoteAddr: "127.0.0.1" })).status;
    };
    const idle = async () => {
      // The blocked write finishes (refused or committed) once the lock is gone.
      for (let i = 0; i < 100; i++) {
        const [r] = await other`select count(*)::int as n from pg_stat_activity
          where datname = current_database() and state = 'active' and pid <> pg_backend_pid()`;
        if (r.n === 0) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("the blocked write never finished");
    };
    try {
      assert.equal(await send("warm"), 202);
      // Blocked past the deadline: 503, and once the lock goes the late write is refused.
      const reserved = await other.reserve();
      await reserved`begin`;
      await reserved`lock table inbound_alerts in access exclusive mode`;
      assert.equal(await send("late"), 503);
      await reserved`commit`;
      reserved.release();
      await idle();
      const late = await t2.db.query(
        `select 1 from inbound_alerts where idempotency_key = 'late'
         union all select 1 from inbound_dedupe_keys where idempotency_key = 'late'`,
      );
      assert.equal(late.length, 0);

      // Blocked for less than the deadline: 202, stored with its HTTP arrival time.
      const held = await other.reserve();
      await held`begin`;
      await held`lock table inbound_alerts in access exclusive mode`;
      const sentAt = Date.now();
      const pending = send("slow");
      await new Promise((r) => setTimeout(r, 800));
      const releasedAt = Date.now();
      await held`commit`;
      held.release();
      assert.equal(await pending, 202);
      const [row] = await t2.db.query<{ at: string }>(
        "select received_at::text as at from inbound_alerts where idempotency_key = 'slow'",
      );
      const at = Date.parse(row.at.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00"));
      assert.ok(at >= sentAt - 5 && at < releasedAt, `received_at ${row.at} is the arrival`);
    } finally {
      await other.end();
      await t2.close();
    }
  },
});

Deno.test({
  name: "a webhook write the database cancels or refuses for the moment is a 503, not a 500",
  ignore: t.kind !== "server",
  ...serviceTest,
  async fn() {
    const t2 = await testDb();
    const other = postgres(t2.url!, { max: 2, onnotice: () => {} });
    const h = pineHandler({ db: t2.db, config, log: logger("test") });
    await insertStrategy(t2.db, "trend");
    const send = async (key: string) => {
      const req = new Request("http://local/alerts/pine", {
        method: "POST",
        headers: { "content-type": "application/json", "x-auth-token": TOKEN },
        body: JSON.stringify(alert({ idempotency_key: key })),
      });
      const res = await h(req, { remoteAddr: "127.0.0.1" });
      return { status: res.status, body: await res.json() as Record<string, unknown> };
    };
    try {
      assert.equal((await send("warm")).status, 202);
      // The write waits on a lock and is cancelled (pg_cancel_backend, a statement_timeout):
      // SQLSTATE 57014, rolled back, so the sender must send it again.
      const held = await other.reserve();
      await held`begin`;
      await held`lock table inbound_alerts in access exclusive mode`;
      const pending = send("cancelled");
      let cancelled = false;
      for (let i = 0; i < 100 && !cancelled; i++) {
        const [r] = await other`select count(pg_cancel_backend(pid))::int as n
          from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'
            and pid <> pg_backend_pid()`;
        cancelled = r.n > 0;
        if (!cancelled) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(cancelled, "the blocked write was found and cancelled");
      const r = await pending.finally(async () => {
        await held`commit`;
        held.release();
      });
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.match(String(r.body.error), /retry later/);
      const stored = await t2.db.query(
        "select 1 from inbound_alerts where idempotency_key = 'cancelled'",
      );
      assert.equal(stored.length, 0);
      // Sent again, it is stored.
      assert.equal((await send("cancelled")).status, 202);
    } finally {
      await other.end();
      await t2.close();
    }
  },
});
