/**
 * The ingestion agent against an in-memory candle source: first fill, completing the forming
 * candle, gap filling, the bounded window, retries with backoff and the deduped warning.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { fakeClock } from "../../../core/clock.ts";
import { RateLimitedError, RejectedError, TemporaryError } from "../../../core/errors.ts";
import { logger } from "../../../core/log.ts";
import { createIngestionAgent, type IngestionDeps } from "../../../strategy/ingestion.ts";
import { candleAt, candleSource, TF_MS } from "../../fakes/candle_source.ts";
import type { Db } from "../../../db/db.ts";

let db: Db;

const T0 = Date.UTC(2026, 0, 1, 12, 0, 30);

function setup(symbol: string, extra: Partial<IngestionDeps> = {}) {
  const clock = fakeClock(new Date(T0));
  const sleeps: number[] = [];
  const sleep = clock.sleep;
  clock.sleep = (ms, signal) => {
    sleeps.push(ms);
    return sleep(ms, signal);
  };
  const source = candleSource(clock);
  const agent = createIngestionAgent({
    db,
    exchange: source,
    clock,
    log: logger("test"),
    symbols: [symbol],
    timeframe: "1m",
    window: 50,
    random: () => 0.5,
    ...extra,
  });
  return { clock, source, agent, sleeps };
}

async function stored(sql: Db, symbol: string) {
  return await sql.query<{ ts: number; close: number }>(
    `select (extract(epoch from ts) * 1000)::int8 as ts, close::float8 as close from candles
     where exchange_id = 'binance' and symbol = $1 and timeframe = '1m' order by ts`,
    [symbol],
  );
}

Deno.test("ingestion agent", async (ctx) => {
  const t = await testDb();
  db = t.db;
  try {
    await db.query("insert into telegram_chats (chat_id, label) values (1001, 'ops')");

    await ctx.step("a first run stores the recent window up to the forming candle", async () => {
      const { agent, source } = setup("FIRST/USDT");
      const [r] = await agent.runOnce();
      assert.deepEqual({ ok: r.ok, stored: r.stored }, { ok: true, stored: 50 });
      const rows = await stored(db, "FIRST/USDT");
      assert.equal(rows.length, 50);
      const forming = Math.floor(T0 / TF_MS) * TF_MS;
      assert.equal(rows.at(-1)!.ts, forming);
      assert.equal(rows[0].ts, forming - 49 * TF_MS);
      assert.equal(source.calls[0].since, forming - 49 * TF_MS);
      assert.ok(Math.abs(rows[10].close - candleAt(rows[10].ts).close) < 1e-9);
    });

    await ctx.step(
      "the next run refetches from the last stored candle and completes it",
      async () => {
        const { agent, source, clock } = setup("NEXT/USDT");
        await agent.runOnce();
        const formingBefore = (await stored(db, "NEXT/USDT")).at(-1)!;
        clock.advance(TF_MS);
        const [r] = await agent.runOnce();
        assert.equal(r.ok, true);
        assert.equal(source.calls[1].since, formingBefore.ts);
        const rows = await stored(db, "NEXT/USDT");
        const completed = rows.find((row) => row.ts === formingBefore.ts)!;
        assert.ok(Math.abs(completed.close - candleAt(formingBefore.ts).close) < 1e-9);
        assert.notEqual(completed.close, formingBefore.close);
        // One new candle was added; the oldest was pruned to keep the window.
        assert.equal(rows.length, 50);
        assert.equal(r.pruned, 1);
      },
    );

    await ctx.step(
      "a gap after an outage is filled page by page from the last stored candle",
      async () => {
        const { agent, source, clock } = setup("GAP/USDT", { pageCandles: 10, window: 50 });
        await agent.runOnce();
        const before = (await stored(db, "GAP/USDT")).at(-1)!.ts;
        clock.advance(25 * TF_MS);
        const [r] = await agent.runOnce();
        assert.equal(r.ok, true);
        const sinces = source.calls.slice(-3).map((c) => c.since);
        assert.deepEqual(sinces, [before, before + 10 * TF_MS, before + 20 * TF_MS]);
        const rows = await stored(db, "GAP/USDT");
        assert.equal(rows.length, 50);
        for (let i = 1; i < rows.length; i++) assert.equal(rows[i].ts - rows[i - 1].ts, TF_MS);
      },
    );

    await ctx.step("a gap longer than the window restarts from the recent window", async () => {
      const { agent, source, clock } = setup("LONG/USDT");
      await agent.runOnce();
      clock.advance(500 * TF_MS);
      await agent.runOnce();
      const forming = Math.floor(clock.now().getTime() / TF_MS) * TF_MS;
      assert.equal(source.calls.at(-1)!.since, forming - 49 * TF_MS);
      const rows = await stored(db, "LONG/USDT");
      assert.equal(rows.length, 50);
      assert.equal(rows[0].ts, forming - 49 * TF_MS);
    });

    await ctx.step(
      "temporary failures are retried with growing jittered waits, rate limits honoured",
      async () => {
        const { agent, source, sleeps } = setup("RETRY/USDT");
        source.failNext(
          new TemporaryError("Exchange timed out"),
          new RateLimitedError("Slow down", 30_000),
          new TemporaryError("Exchange timed out"),
        );
        const [r] = await agent.runOnce();
        assert.equal(r.ok, true);
        assert.equal(r.stored, 50);
        // random() = 0.5: ceilings 1 s, 2 s, 4 s → waits of 3/4 of each; the 429 waits its 30 s.
        assert.deepEqual(sleeps, [750, 30_000, 3_000]);
      },
    );

    await ctx.step("a rejected request is not retried", async () => {
      const { agent, source, sleeps } = setup("REJ/USDT");
      source.failNext(new RejectedError("Invalid symbol REJ/USDT"));
      const [r] = await agent.runOnce();
      assert.equal(r.ok, false);
      assert.match(r.error!, /Invalid symbol/);
      assert.equal(source.calls.length, 1);
      assert.deepEqual(sleeps, []);
      assert.equal((await stored(db, "REJ/USDT")).length, 0);
    });

    await ctx.step(
      "repeated failed runs warn the operator once, and recovery is reported",
      async () => {
        const { agent, source } = setup("DOWN/USDT");
        const outbox = () =>
          db.query<{ severity: string; kind: string; text: string }>(
            `select severity, kind, text from notification_outbox
           where kind like 'ingestion%' and text like '%DOWN/USDT%' order by id`,
          );
        for (let run = 1; run <= 5; run++) {
          source.failNext(
            ...Array.from({ length: 4 }, () => new TemporaryError("Exchange is down")),
          );
          const [r] = await agent.runOnce();
          assert.equal(r.ok, false);
          assert.equal((await outbox()).length, run < 3 ? 0 : 1, `after run ${run}`);
        }
        const [warn] = await outbox();
        assert.equal(warn.severity, "WARN");
        assert.match(warn.text, /Market data for DOWN\/USDT on binance has failed 3 runs in a row/);
        const [r] = await agent.runOnce();
        assert.equal(r.ok, true);
        const rows = await outbox();
        assert.equal(rows.length, 2);
        assert.equal(rows[1].severity, "INFO");
        assert.equal(rows[1].kind, "ingestion_recovered");
      },
    );

    await ctx.step(
      "malformed candles from the exchange are skipped, the good ones stored",
      async () => {
        const { agent, source } = setup("BAD/USDT");
        const forming = Math.floor(T0 / TF_MS) * TF_MS;
        const good = candleAt(forming - TF_MS);
        source.serveNext([
          { ...candleAt(forming - 2 * TF_MS), high: 1, low: 2 },
          { ...candleAt(forming - 3 * TF_MS), close: Number.NaN },
          good,
        ]);
        const [r] = await agent.runOnce();
        assert.equal(r.ok, true);
        assert.equal(r.stored, 1);
        assert.deepEqual((await stored(db, "BAD/USDT")).map((row) => row.ts), [good.ts]);
      },
    );
  } finally {
    await t.close();
  }
});
