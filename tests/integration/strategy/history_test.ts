/**
 * `candles download` against the fake exchange through the real ccxt client: a range fetched
 * in pages, an interrupted run resumed without duplicates or gaps (fetching only what was
 * missing), the same into a CSV file, history kept out of the ingestion window's trimming, and
 * a backtest over what was stored.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { createCcxtExchange } from "../../../exchange/ccxt.ts";
import { type CandleSink, csvSink, downloadCandles, tableSink } from "../../../strategy/history.ts";
import { pruneCandles, upsertCandles } from "../../../strategy/candles.ts";
import { main } from "../../../main.ts";
import type { Db } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const MIN = 60_000;
const series = { exchangeId: "binance", symbol: "BTC/USDT", timeframe: "1m" };
const nowMs = Date.now();
const fromMs = Math.floor(nowMs / MIN) * MIN - 3_000 * MIN;
const toMs = fromMs + 2_500 * MIN;

/** A sink that dies after `pages` writes, as a killed process would. */
const dying = (sink: CandleSink, pages: number): CandleSink => ({
  missing: sink.missing,
  async write(c) {
    if (pages-- <= 0) throw new Error("killed");
    await sink.write(c);
  },
});

const stored = async (db: Db) =>
  (await db.query<{ n: number; distinct: number; first: number; last: number; kept: number }>(
    `select count(*)::int as n, count(distinct ts)::int as distinct,
            (extract(epoch from min(ts)) * 1000)::int8 as first,
            (extract(epoch from max(ts)) * 1000)::int8 as last,
            count(*) filter (where kept)::int as kept
       from candles where symbol = 'BTC/USDT' and timeframe = '1m'`,
  ))[0];

Deno.test({
  name: "candles download fetches a range in pages and resumes after an interruption",
  ...serviceTest,
  fn: async () => {
    const t = await testDb({ onDisk: true });
    const fake = startFakeExchange();
    const exchange = await createCcxtExchange({
      id: "binance",
      mode: "paper",
      apiUrl: fake.url,
      timeoutMs: 5_000,
      throttle: false,
    });
    try {
      const sink = tableSink(t.db, series);
      await assert.rejects(
        downloadCandles({ exchange, series, fromMs, toMs, nowMs, sink: dying(sink, 2) }),
        /killed/,
      );
      assert.equal((await stored(t.db)).n, 2_000, "two pages of 1,000 before the kill");
      const before = fake.requests["GET klines"] ?? 0;
      const resumed = await downloadCandles({ exchange, series, fromMs, toMs, nowMs, sink });
      assert.equal(resumed.fetched, 500, "only the missing tail is fetched");
      assert.equal((fake.requests["GET klines"] ?? 0) - before, 1);
      const s = await stored(t.db);
      assert.deepEqual([s.n, s.distinct, s.kept], [2_500, 2_500, 2_500], "no duplicates");
      assert.equal(s.first, fromMs);
      assert.equal(s.last, toMs - MIN, "no gap: first to last is one candle apart each");

      // A hole in the middle (e.g. an older download over part of the range) is filled alone.
      await t.db.query(
        "delete from candles where ts >= $1 and ts < $2",
        [new Date(fromMs + 100 * MIN).toISOString(), new Date(fromMs + 150 * MIN).toISOString()],
      );
      const hole = await downloadCandles({ exchange, series, fromMs, toMs, nowMs, sink });
      assert.deepEqual([hole.gaps, hole.fetched], [1, 50]);
      assert.equal((await stored(t.db)).n, 2_500);
      assert.equal(
        (await downloadCandles({ exchange, series, fromMs, toMs, nowMs, sink })).gaps,
        0,
      );

      // The ingestion window trims only what it stored itself.
      await upsertCandles(t.db, series, [{
        ts: toMs + 10 * MIN,
        open: 1,
        high: 1,
        low: 1,
        close: 1,
        volume: 1,
      }]);
      await pruneCandles(t.db, series, 10);
      assert.equal((await stored(t.db)).kept, 2_500, "downloaded history survives the trim");
    } finally {
      await exchange.close?.();
      await fake.close();
    }

    // A backtest over what was stored, through the command as an operator runs it.
    if (t.kind === "embedded") await t.db.close();
    const env = t.url ? { DATABASE_URL: t.url } : { DATA_DIR: t.dataDir! };
    const out: string[] = [];
    const code = await main([
      "backtest",
      "--symbol",
      "BTC/USDT",
      "--from",
      new Date(fromMs).toISOString(),
      "--to",
      new Date(toMs).toISOString(),
      "--json",
    ], {
      env: { LOG_LEVEL: "error", ...env },
      out: (l) => out.push(l),
      err: () => {},
      isTerminal: false,
    });
    assert.equal(code, 0);
    assert.equal(JSON.parse(out.join("")).summary.candles, 2_500);
    await t.close();
  },
});

Deno.test({
  name: "candles download into a CSV file appends after its last row when run again",
  ...serviceTest,
  fn: async () => {
    const fake = startFakeExchange();
    const exchange = await createCcxtExchange({
      id: "binance",
      mode: "paper",
      apiUrl: fake.url,
      timeoutMs: 5_000,
      throttle: false,
    });
    const dir = await Deno.makeTempDir({ prefix: "pgsl-history-" });
    const path = `${dir}/btc.csv`;
    try {
      const first = await csvSink(path);
      await assert.rejects(
        downloadCandles({ exchange, series, fromMs, toMs, nowMs, sink: dying(first, 1) }),
        /killed/,
      );
      first.close();
      const second = await csvSink(path);
      const r = await downloadCandles({ exchange, series, fromMs, toMs, nowMs, sink: second });
      second.close();
      assert.equal(r.fetched, 1_500);
      const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
      assert.equal(lines[0], "ts,open,high,low,close,volume");
      const ts = lines.slice(1).map((l) => Date.parse(l.split(",")[0]));
      assert.equal(ts.length, 2_500);
      assert.ok(ts.every((x, i) => x === fromMs + i * MIN), "in order, no duplicate, no gap");
    } finally {
      await exchange.close?.();
      await fake.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
