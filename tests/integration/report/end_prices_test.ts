/**
 * After a downtime of days, the reports of the missed days wait for candle ingestion to fill
 * the gap, so a day's end equity is valued at the price of its own end, not the one from before
 * the downtime; past the wait (or over a gap ingestion skipped) they are built naming the
 * prices they lacked.
 */
import assert from "node:assert/strict";
import { seedInstrument, testDb } from "../../helpers/db.ts";
import { announcement, catchUp } from "../../../report/component.ts";
import { buildReport, reportPage } from "../../../report/store.ts";
import { periodOf } from "../../../report/period.ts";
import { limits } from "../../../core/limits.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const scope = { exchangeId: "binance", account: "paper", quote: "USDT" };
const HOUR = 3_600_000;

/** 1000 USDT and 0.01 BTC booked an hour into `day`, BTC/USDT candles of 1h at 50,000 until
 * 10:00 that day (serve went down then). */
async function heldThroughDowntime(db: Db, dayStart: Date) {
  await seedInstrument(db);
  for (const [asset, amount] of [["USDT", 1000], ["BTC", 0.01]] as const) {
    await db.query(
      `insert into transactions (exchange_id, account, asset, amount, kind, note, created_at)
       values ('binance', 'paper', $1, $2, 'deposit', $3, $4)`,
      [asset, amount, `initial paper balance of ${asset}`, new Date(dayStart.getTime() + HOUR)],
    );
  }
  await candles(
    db,
    new Date(dayStart.getTime() - 2 * HOUR),
    new Date(dayStart.getTime() + 10 * HOUR),
    50_000,
  );
}

/** Hourly BTC/USDT candles opening from `from` to before `to`, closing at `close`. */
async function candles(db: Db, from: Date, to: Date, close: number) {
  await db.query(
    `insert into candles (exchange_id, symbol, timeframe, ts, open, high, low, close)
     select 'binance', 'BTC/USDT', '1h', g, $3, $3, $3, $3
       from generate_series($1::timestamptz, $2::timestamptz - interval '1 hour',
                            interval '1 hour') g
     on conflict do nothing`,
    [from, to, close],
  );
}

const dailies = async (db: Db) =>
  (await db.query<
    { start: Date; metrics: { metrics: { endEquity: number }; lackedPrices?: unknown } }
  >(
    `select period_start as start, metrics from reports where kind = 'daily' and not partial
      order by period_start`,
  )).map((r) => ({
    day: new Date(r.start).toISOString().slice(0, 10),
    endEquity: r.metrics.metrics.endEquity,
    lacked: r.metrics.lackedPrices ?? null,
  }));

Deno.test({
  name: "reports of days missed while serve was down wait for their candles, then use them",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const day = periodOf("daily", new Date(Date.now() - 3 * 86_400_000));
    await heldThroughDowntime(db, day.start);
    // serve starts two days and an hour after that day: ingestion has not run yet.
    let now = new Date(day.end.getTime() + 2 * 86_400_000 + HOUR);
    const waits = new Map<string, number>();
    assert.deepEqual(await catchUp(db, { scope, now, waits }), [], "no report before its prices");
    assert.deepEqual(await dailies(db), []);

    // Ingestion fills the gap: BTC was at 60,000 since the downtime.
    await candles(db, new Date(day.start.getTime() + 10 * HOUR), now, 60_000);
    now = new Date(now.getTime() + 60_000);
    const made = await catchUp(db, { scope, now, waits });
    assert.equal(made.filter((r) => r.kind === "daily").length, 3);
    const iso = (d: Date) => d.toISOString().slice(0, 10);
    assert.deepEqual(
      await dailies(db),
      [0, 1, 2].map((i) => ({
        day: iso(new Date(day.start.getTime() + i * 86_400_000)),
        endEquity: 1600,
        lacked: null,
      })),
      "each day's end valued at its own price, nothing said lacking",
    );
  },
});

Deno.test({
  name: "a report whose candles never come is built after the wait, naming the prices it lacked",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const day = periodOf("daily", new Date(Date.now() - 3 * 86_400_000));
    await heldThroughDowntime(db, day.start);
    const now = new Date(day.end.getTime() + HOUR);
    const waits = new Map<string, number>();
    assert.deepEqual(await catchUp(db, { scope, now, waits }), []);
    // Ingestion is off or failing: after the wait it is built anyway, and says so.
    const later = new Date(now.getTime() + limits.reportPriceWaitMs);
    const [report] = await catchUp(db, { scope, now: later, waits });
    assert.equal(report.kind, "daily");
    assert.equal(report.snapshot.metrics.endEquity, 1500);
    assert.deepEqual(report.snapshot.lackedPrices, [
      { symbol: "BTC/USDT", pricedAt: new Date(day.start.getTime() + 10 * HOUR).toISOString() },
    ]);
    assert.match(announcement(report), /No price at its end for BTC\/USDT/);
    const page = await reportPage(db, report.id);
    assert.match(
      page ?? "",
      /data-metric="lackedPrices">No price at the period's end for BTC\/USDT/,
    );

    // A gap ingestion skipped (candles after the end, none at it) does not wait: the next day's
    // report is built at once, naming it.
    const next = periodOf("daily", day.end);
    await candles(db, next.end, new Date(next.end.getTime() + 2 * HOUR), 60_000);
    const built = await buildReport(db, {
      kind: "daily",
      at: next.start,
      scope,
      now: new Date(next.end.getTime() + 2 * HOUR),
    });
    assert.equal(built.report.partial, false);
    assert.deepEqual(built.report.snapshot.lackedPrices?.map((l) => l.symbol), ["BTC/USDT"]);
  },
});

Deno.test({
  name: "many periods waiting at once (several scopes after a long downtime) still end their wait",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const day = periodOf("daily", new Date(Date.now() - 3 * 86_400_000));
    await heldThroughDowntime(db, day.start);
    const now = new Date(day.end.getTime() + 2 * 86_400_000 + HOUR);
    // Other scopes' periods already waiting: this scope's join them.
    const waits = new Map<string, number>();
    for (let i = 0; i < 247; i++) waits.set(`other:${i}`, now.getTime());
    assert.deepEqual(await catchUp(db, { scope, now, waits }), []);
    // No candles come (a symbol no longer ingested): past the wait every period is built.
    const later = new Date(now.getTime() + limits.reportPriceWaitMs + 60_000);
    await catchUp(db, { scope, now: later, waits });
    assert.equal((await dailies(db)).length, 3, "each missed day is built once its wait is over");
  },
});
