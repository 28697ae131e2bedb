/**
 * The pull door against a real local HTTP server that answers 200 (JSON lines or CSV, with an
 * ETag), 304 when the ETag matches, 500, and garbage: alerts are stored once through the shared
 * intake, a 304 submits nothing, errors are thrown for the loop to back off.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { createPuller } from "../../../signals/pull.ts";
import { workQueue } from "../../../runtime/context.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";

interface FileServer {
  url: string;
  /** What the next requests get. */
  set(answer: Answer): void;
  requests: { ifNoneMatch: string | null }[];
  close(): Promise<void>;
}

interface Answer {
  status?: number;
  body?: string;
  etag?: string;
  type?: string;
  lastModified?: Date;
}

function fileServer(): FileServer {
  let answer: Answer = {};
  const requests: { ifNoneMatch: string | null }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const ifNoneMatch = req.headers.get("if-none-match");
    requests.push({ ifNoneMatch });
    if (answer.etag && ifNoneMatch === answer.etag) return new Response(null, { status: 304 });
    const headers: Record<string, string> = { "content-type": answer.type ?? "text/plain" };
    if (answer.etag) headers.etag = answer.etag;
    if (answer.lastModified) headers["last-modified"] = answer.lastModified.toUTCString();
    return new Response(answer.body ?? "", { status: answer.status ?? 200, headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/alerts`,
    set: (a) => void (answer = a),
    requests,
    close: () => server.shutdown(),
  };
}

const alert = (key: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    symbol: "BTC/USDT",
    side: "buy",
    strategy: "trend",
    idempotency_key: key,
    ...extra,
  });

const countAlerts = async (db: import("../../../db/db.ts").Db) =>
  (await db.query<{ status: string; n: number }>(
    `select status, count(*)::int as n from inbound_alerts where source = 'pull'
      group by status order by status`,
  )).reduce((o, r) => ({ ...o, [r.status]: r.n }), {} as Record<string, number>);

Deno.test({
  name: "pull: JSON lines are stored once, a 304 costs nothing, 500 and garbage are errors",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    await insertStrategy(db, "trend");
    const files = fileServer();
    const queue = workQueue<number>();
    const puller = createPuller({ db, url: files.url, exchangeId: "binance", queue });
    try {
      // Line 4 gives its side twice (JSON.parse would keep the last): refused, naming it.
      const twice = alert("p9", { side: "sell" }).replace("}", ',"side":"buy"}');
      files.set({
        body: `${alert("p1")}\n${alert("p2")}\n{not json\n${twice}\n`,
        etag: '"v1"',
      });
      const first = await puller.pullOnce();
      assert.equal(first.status, "read");
      if (first.status !== "read") return;
      assert.equal(first.format, "jsonl");
      assert.equal(first.summary.accepted, 2);
      assert.deepEqual(first.summary.rejected.map((r) => r.lineNo), [3, 4]);
      assert.match(first.summary.rejected[1].reason, /side: given more than once/);
      assert.equal(queue.drain().length, 2, "accepted alerts wake execution");
      assert.deepEqual(await countAlerts(db), { INVALID: 2, RECEIVED: 2 });

      // Unchanged file: the server answers 304 to the ETag and nothing is submitted.
      assert.equal((await puller.pullOnce()).status, "not-modified");
      assert.equal(files.requests.at(-1)?.ifNoneMatch, '"v1"');

      // The file grows: only the new line is submitted; old lines add no duplicate rows.
      files.set({
        body: `${alert("p1")}\n${alert("p2")}\n{not json\n${alert("p3")}\n`,
        etag: '"v2"',
      });
      const grown = await puller.pullOnce();
      assert.equal(grown.status === "read" && grown.summary.rows, 1);
      assert.deepEqual(await countAlerts(db), { INVALID: 2, RECEIVED: 3 });

      // A server without ETags sending the same body again: nothing new.
      files.set({ body: `${alert("p1")}\n${alert("p2")}\n{not json\n${alert("p3")}\n` });
      assert.equal((await puller.pullOnce()).status, "unchanged");

      files.set({ status: 500, body: "oops" });
      await assert.rejects(puller.pullOnce(), /HTTP 500/);
      files.set({ body: "\xff\xfe garbage \u0000", type: "application/octet-stream" });
      // Not JSON lines and not a CSV with the required columns: refused with the reason.
      await assert.rejects(puller.pullOnce(), /header lacks the column/);
      assert.deepEqual(await countAlerts(db), { INVALID: 2, RECEIVED: 3 });
    } finally {
      await files.close();
    }
  },
});

Deno.test({
  name: "pull: after a restart no old line is submitted again; a refused one stays refused",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    await insertStrategy(db, "trend");
    const files = fileServer();
    // p2 names a strategy that does not exist yet, and has no `ts` (no age to refuse it by).
    const body = `${alert("p1")}\n${alert("p2", { strategy: "later" })}\n`;
    try {
      files.set({ body, etag: '"v1"' });
      const first = await createPuller({ db, url: files.url, exchangeId: "binance" }).pullOnce();
      assert.equal(first.status === "read" && first.summary.accepted, 1);
      assert.deepEqual(await countAlerts(db), { RECEIVED: 1, REJECTED: 1 });

      // The operator adds the strategy; serve restarts (a new puller, nothing in memory).
      await insertStrategy(db, "later");
      const queue = workQueue<number>();
      const again = await createPuller({ db, url: files.url, exchangeId: "binance", queue })
        .pullOnce();
      assert.equal(again.status === "read" && again.summary.rows, 0, "nothing submitted");
      assert.equal(queue.drain().length, 0, "the refused line does not trade late");
      assert.deepEqual(await countAlerts(db), { RECEIVED: 1, REJECTED: 1 }, "no new rows");

      // A new line after the restart is submitted, once.
      files.set({ body: `${body}${alert("p3")}\n`, etag: '"v2"' });
      const restarted = createPuller({ db, url: files.url, exchangeId: "binance" });
      const grown = await restarted.pullOnce();
      assert.equal(grown.status === "read" && grown.summary.accepted, 1);
      files.set({ body: `${body}${alert("p3")}\n${alert("p4")}\n`, etag: '"v3"' });
      const more = await restarted.pullOnce();
      assert.equal(more.status === "read" && more.summary.rows, 1);
      assert.deepEqual(await countAlerts(db), { RECEIVED: 3, REJECTED: 1 });
    } finally {
      await files.close();
    }
  },
});

Deno.test({
  name: "pull: after a downtime an entry from a new line without ts is refused, not traded late",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    await insertStrategy(db, "trend");
    const files = fileServer();
    const day = 86_400_000;
    let clock = new Date(Date.now() - 2 * day - 3_600_000);
    const options = {
      db,
      url: files.url,
      exchangeId: "binance",
      maxAgeS: 300,
      intervalS: 60,
      now: () => clock,
    };
    const dated = (key: string, at: Date) => alert(key, { ts: at.toISOString() });
    const rows = async () =>
      (await db.query<{ key: string; status: string; error: string | null }>(
        `select idempotency_key as key, status, error from inbound_alerts
          where source = 'pull' order by id`,
      )).map((r) => `${r.key} ${r.status}${r.error ? ` ${r.error}` : ""}`);
    try {
      let body = `${dated("p0", clock)}\n`;
      files.set({ body, etag: '"v1"' });
      const running = createPuller(options);
      await running.pullOnce();
      // Normal running: a line added between two reads a minute apart is traded.
      clock = new Date(clock.getTime() + 60_000);
      body += `${alert("p1")}\n`;
      files.set({ body, etag: '"v2"' });
      await running.pullOnce();
      clock = new Date(clock.getTime() + 30_000);
      assert.equal((await running.pullOnce()).status, "not-modified");

      // serve is down two days; meanwhile the file gets an undated buy and sell, and a buy with
      // its own ts. At restart (nothing in memory) only the undated buy is refused: its age is
      // unknown up to two days. The sell is an exit (traded late, as exits are); the dated buy
      // is judged by its ts.
      const downFrom = clock;
      clock = new Date(clock.getTime() + 2 * day);
      body += `${alert("p2")}\n${alert("p3", { side: "sell" })}\n${dated("p4", clock)}\n`;
      files.set({ body, etag: '"v3"', lastModified: new Date(clock.getTime() - 5_000) });
      const restarted = createPuller(options);
      const read = await restarted.pullOnce();
      assert.equal(read.status === "read" && read.summary.accepted, 2);
      assert.deepEqual(await rows(), [
        "p0 RECEIVED",
        "p1 RECEIVED",
        `p2 REJECTED The line has no ts and the alerts file was not read from ` +
        `${downFrom.toISOString()} to ${clock.toISOString()} (over PULL_ALERTS_INTERVAL_S + ` +
        "SIGNAL_MAX_AGE_S = 360 s): it may be that old; an entry is not traded that late; " +
        "give each line its own ts",
        "p3 RECEIVED",
        "p4 RECEIVED",
      ]);

      // Running again: the next line is traded.
      clock = new Date(clock.getTime() + 60_000);
      body += `${alert("p5")}\n`;
      files.set({ body, etag: '"v4"', lastModified: clock });
      const next = await restarted.pullOnce();
      assert.equal(next.status === "read" && next.summary.accepted, 1);
    } finally {
      await files.close();
    }
  },
});

Deno.test({
  name: "pull: a new line without ts in a file last modified too long ago is refused as an entry",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    await insertStrategy(db, "trend");
    const files = fileServer();
    const options = { db, url: files.url, exchangeId: "binance", maxAgeS: 300, intervalS: 60 };
    try {
      // Read every minute, but the line was written (the file modified) an hour before it was
      // read: a read that stored it failed half-way, a file served from a stale copy.
      const puller = createPuller(options);
      files.set({ body: `${alert("q0", { ts: new Date().toISOString() })}\n` });
      await puller.pullOnce();
      const modified = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
      files.set({ body: `${alert("q1")}\n`, lastModified: modified });
      const read = await puller.pullOnce();
      assert.equal(read.status === "read" && read.summary.accepted, 0);
      assert.match(
        read.status === "read" ? read.summary.rejected[0].reason : "",
        new RegExp(
          `no ts and the alerts file was last modified at ${modified.toISOString()} ` +
            "\\(Last-Modified\\), over PULL_ALERTS_INTERVAL_S \\+ SIGNAL_MAX_AGE_S = 360 s " +
            "before it was read",
        ),
      );

      // A file never read before: an undated entry in it has no known age. Without the limit
      // (SIGNAL_MAX_AGE_S=0) it is taken as received now, as before.
      await using other = await testDb();
      await insertStrategy(other.db, "trend");
      files.set({ body: `${alert("r1")}\n${alert("r2", { side: "sell" })}\n` });
      const first = await createPuller({ ...options, db: other.db }).pullOnce();
      assert.equal(first.status === "read" && first.summary.accepted, 1);
      assert.match(
        first.status === "read" ? first.summary.rejected[0].reason : "",
        /no ts and was in the alerts file when it was first read: its age is unknown/,
      );
      await using off = await testDb();
      await insertStrategy(off.db, "trend");
      const unlimited = await createPuller({ ...options, db: off.db, maxAgeS: 0 }).pullOnce();
      assert.equal(unlimited.status === "read" && unlimited.summary.accepted, 2);
    } finally {
      await files.close();
    }
  },
});

Deno.test({
  name:
    "pull: in normal running a line without ts is traded even when the poll is slower than SIGNAL_MAX_AGE_S",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    await insertStrategy(db, "trend");
    const files = fileServer();
    // PULL_ALERTS_INTERVAL_S=600 with the default SIGNAL_MAX_AGE_S=300: a line appended just
    // after a read waits ten minutes for the next one, as every line of this setup does.
    let clock = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
    const options = {
      db,
      url: files.url,
      exchangeId: "binance",
      maxAgeS: 300,
      intervalS: 600,
      now: () => clock,
    };
    try {
      const puller = createPuller(options);
      let body = `${alert("s0", { ts: clock.toISOString() })}\n`;
      files.set({ body, etag: '"v1"', lastModified: clock });
      await puller.pullOnce();
      body += `${alert("s1")}\n`;
      files.set({ body, etag: '"v2"', lastModified: new Date(clock.getTime() + 10_000) });
      clock = new Date(clock.getTime() + 600_000);
      const read = await puller.pullOnce();
      assert.deepEqual(read.status === "read" && read.summary.rejected, []);
      assert.equal(read.status === "read" && read.summary.accepted, 1);
    } finally {
      await files.close();
    }
  },
});

Deno.test({
  name: "pull: a CSV file goes through the import's columns, each new row once",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    await insertStrategy(db, "trend");
    const files = fileServer();
    const puller = createPuller({ db, url: files.url, exchangeId: "binance" });
    const header = "ts,symbol,side,qty,price,strategy,idempotency_key";
    try {
      files.set({ body: `${header}\n,BTC/USDT,buy,0.01,,trend,c1\n,BTC/USDT,hold,1,,trend,c2\n` });
      const first = await puller.pullOnce();
      assert.equal(first.status === "read" && first.format, "csv");
      assert.equal(first.status === "read" && first.summary.accepted, 1);
      assert.deepEqual(
        first.status === "read" && first.summary.rejected.map((r) => r.lineNo),
        [3],
        "line numbers are those of the file",
      );
      files.set({
        body: `${header}\n,BTC/USDT,buy,0.01,,trend,c1\n,BTC/USDT,hold,1,,trend,c2\n` +
          `,BTC/USDT,sell,0.01,,trend,c3\n`,
      });
      const second = await puller.pullOnce();
      assert.equal(second.status === "read" && second.summary.rows, 1);
      assert.deepEqual(await countAlerts(db), { INVALID: 1, RECEIVED: 2 });
    } finally {
      await files.close();
    }
  },
});

Deno.test({
  name: "pull: a body over the limit is refused without storing anything",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const files = fileServer();
    const puller = createPuller({ db: t.db, url: files.url, exchangeId: "binance" });
    try {
      files.set({ body: "x".repeat(4 * 1024 * 1024 + 1) });
      await assert.rejects(puller.pullOnce(), /at most/);
      assert.deepEqual(await countAlerts(t.db), {});
    } finally {
      await files.close();
    }
  },
});
