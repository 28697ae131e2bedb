/**
 * A daily report of a scripted day of trades (paper execution over the fake exchange's prices):
 * its numbers equal a direct SQL computation over the ledger, a second build returns the stored
 * snapshot, and the page is served with its headers while an unknown or malformed id is a 404.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { executionSetup, insertAlert, paperExchange } from "../../helpers/execution.ts";
import { buildReport } from "../../../report/store.ts";
import { catchUp, reportRoute } from "../../../report/component.ts";
import { periodOf } from "../../../report/period.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const scope = { exchangeId: "binance", account: "paper", quote: "USDT" };

/** Two round trips: up 50,000 → 51,000, then down 51,000 → 50,000. */
async function scriptedDay(db: Db, fake: ReturnType<typeof startFakeExchange>) {
  const exchange = await paperExchange(db, fake);
  const agent = await executionSetup(db, exchange);
  const step = async (price: string, d: Parameters<typeof insertAlert>[1]) => {
    fake.setPrice("BTCUSDT", price);
    await insertAlert(db, d);
    const s = await agent.runOnce();
    assert.equal(s.claimed, 1);
  };
  await step("50000", { qty: "0.01", sl: "48000", strategy: "trend" });
  await step("51000", { action: "sell", strategy: "trend" });
  await step("51000", { qty: "0.02", sl: "49000", strategy: "swing" });
  await step("50000", { action: "sell", strategy: "swing" });
  await exchange.close?.();
  const open = await db.query("select 1 from positions where status = 'OPEN'");
  assert.equal(open.length, 0, "both round trips closed");
}

Deno.test({
  name: "a daily report equals the ledger's own sums, and is stored once",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const fake = startFakeExchange();
    try {
      await scriptedDay(db, fake);
    } finally {
      await fake.close();
    }
    const day = periodOf("daily", new Date());
    const later = new Date(day.end.getTime() + 60_000);
    const first = await buildReport(db, { kind: "daily", at: day.start, scope, now: later });
    assert.equal(first.created, true);
    assert.equal(first.report.partial, false);
    assert.match(first.report.id, /^[A-Za-z0-9_-]{22}$/);

    const [sql] = await db.query<{ fees: number; pnl: number; cash: number; deposit: number }>(
      `select coalesce(sum(-amount) filter (where kind = 'fee'), 0)::float8 as fees,
              coalesce(sum(amount) filter (where kind in ('trade', 'fee') and asset = 'USDT'), 0)::float8 as pnl,
              coalesce(sum(amount) filter (where asset = 'USDT'), 0)::float8 as cash,
              coalesce(sum(amount) filter (where kind = 'deposit'), 0)::float8 as deposit
         from transactions where account = 'paper' and created_at >= $1 and created_at < $2`,
      [day.start, day.end],
    );
    const m = first.report.snapshot.metrics;
    const close = (a: number, b: number, what: string) =>
      assert.ok(Math.abs(a - b) < 1e-6, `${what}: report ${a}, ledger ${b}`);
    close(m.fees, sql.fees, "fees");
    close(m.realizedPnl, sql.pnl, "realized PnL (round trips closed, fees in USDT)");
    close(m.endEquity, sql.cash, "ending equity (all in USDT at the end)");
    close(m.returnPct!, ((sql.cash - sql.deposit) / sql.deposit) * 100, "return on the deposit");
    assert.equal(m.fills, 4);
    assert.deepEqual([m.trades, m.wins, m.losses], [2, 1, 1]);
    assert.ok(m.fees > 0, "the paper broker charged fees");

    // Asked again (the schedule, or an operator): the stored snapshot, same id, not rebuilt.
    const again = await buildReport(db, {
      kind: "daily",
      at: day.start,
      scope,
      now: new Date(later.getTime() + 3_600_000),
    });
    assert.equal(again.created, false);
    assert.equal(again.report.id, first.report.id);
    assert.deepEqual(again.report.snapshot, first.report.snapshot);
    const [{ n }] = await db.query<{ n: number }>(
      "select count(*)::int as n from reports where kind = 'daily' and not partial",
    );
    assert.equal(n, 1);
    await assert.rejects(
      db.query("update reports set html = 'x' where id = $1", [first.report.id]),
      "reports are immutable",
    );

    // The page: served with private headers; unknown and malformed ids get the same 404.
    const route = reportRoute(db);
    const get = (id: string) =>
      route.handler(new Request(`http://x/reports/${id}`), {
        remoteAddr: "127.0.0.1",
        params: { id },
      });
    const page = await get(first.report.id);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("cache-control"), "private, no-store");
    assert.equal(page.headers.get("referrer-policy"), "no-referrer");
    assert.equal(page.headers.get("x-robots-tag"), "noindex");
    const html = await page.text();
    assert.match(html, /data-metric="trades">2</);
    assert.doesNotMatch(html, /<script|https?:\/\//i, "self-contained: no script, no remote asset");
    const random = crypto.randomUUID().replaceAll("-", "").slice(0, 22);
    for (const id of [random, "../../etc/passwd", "x".repeat(500)]) {
      const r = await get(id);
      assert.equal(r.status, 404);
      assert.equal(await r.text(), "Not found\n");
      assert.equal(r.headers.get("cache-control"), "private, no-store");
    }
  },
});

Deno.test({
  name: "the schedule catches up missed periods once and announces each new report",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const fake = startFakeExchange();
    try {
      await scriptedDay(db, fake);
    } finally {
      await fake.close();
    }
    const day = periodOf("daily", new Date());
    // The service was down at midnight and comes back nine days later.
    const now = new Date(day.end.getTime() + 9 * 86_400_000);
    const made = await catchUp(db, { scope, now, publicBaseUrl: "https://bot.example.com" });
    assert.equal(made.filter((r) => r.kind === "daily").length, 10, "today and the 9 days after");
    assert.ok(made.some((r) => r.kind === "weekly"));
    assert.deepEqual(await catchUp(db, { scope, now }), [], "nothing twice");
    const texts = await db.query<{ text: string }>(
      // executionSetup registers one INFO chat: one row per report.
      "select text from notification_outbox where kind = 'report' order by id",
    );
    assert.equal(texts.length, made.length);
    const todays = made.find((r) =>
      r.kind === "daily" && r.periodStart.getTime() === day.start.getTime()
    )!;
    const msg = texts.find((x) => x.text.includes(`/reports/${todays.id}`));
    assert.ok(msg, "the announcement carries PUBLIC_BASE_URL/reports/<id>");
    assert.match(msg!.text, /2 trade\(s\), win rate 50\.00 %/);
  },
});
