/**
 * The polled file under faults: a poll that fails half-way (the database down) keeps no ETag, so
 * the next poll reads the file again and stores what was missed; a line PostgreSQL cannot store
 * (an unpaired surrogate escape, nesting too deep) is refused alone as INVALID, never a poison
 * pill for the lines after it. Through a real HTTP server on 127.0.0.1.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { createPuller } from "../../../signals/pull.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";
import { DatabaseUnavailableError } from "../../../core/errors.ts";
import type { Db } from "../../../db/db.ts";

const line = (key: string, extra = "") =>
  `{"symbol":"BTC/USDT","side":"buy","strategy":"trend","idempotency_key":"${key}"${extra}}`;

/** Serves `body` with ETag "v1", answering 304 to a request that names it. */
function serveFile(body: string) {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      req.headers.get("if-none-match") === '"v1"'
        ? new Response(null, { status: 304 })
        : new Response(body, { headers: { etag: '"v1"' } }),
  );
}

Deno.test({
  name: "a poll that failed half-way keeps no ETag: the next poll stores what was missed",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    await insertStrategy(t.db, "trend");
    let down = false;
    // The database as the puller sees it: every statement fails while `down`.
    const db = new Proxy(t.db, {
      get(target, p, r) {
        const v = Reflect.get(target, p, r);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          if (down && (p === "query" || p === "transaction")) {
            throw new DatabaseUnavailableError("simulated outage");
          }
          return v.apply(target, args);
        };
      },
    }) as Db;
    const server = serveFile(`${line("k1")}\n${line("k2")}\n`);
    try {
      const puller = createPuller({
        db,
        url: `http://127.0.0.1:${server.addr.port}/a`,
        exchangeId: "binance",
      });
      down = true;
      await assert.rejects(puller.pullOnce(), DatabaseUnavailableError);
      down = false;
      assert.equal((await puller.pullOnce()).status, "read");
      const rows = await t.db.query<{ idempotency_key: string; status: string }>(
        "select idempotency_key, status from inbound_alerts order by id",
      );
      assert.deepEqual(rows.map((r) => [r.idempotency_key, r.status]), [
        ["k1", "RECEIVED"],
        ["k2", "RECEIVED"],
      ]);
      // Once stored, the validators are kept: the next poll is a 304.
      assert.equal((await puller.pullOnce()).status, "not-modified");
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "a pulled line PostgreSQL cannot store is refused alone; the lines after it are stored",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    await insertStrategy(t.db, "trend");
    const deep = `,"x":${"[".repeat(200)}${"]".repeat(200)}`;
    const body = [
      line("s1"),
      line("s2", ',"note":"\\ud800"'),
      line("s3", deep),
      line("s4"),
    ].join("\n") + "\n";
    const server = serveFile(body);
    try {
      const puller = createPuller({
        db: t.db,
        url: `http://127.0.0.1:${server.addr.port}/a`,
        exchangeId: "binance",
      });
      const first = await puller.pullOnce();
      assert.equal(first.status, "read");
      await puller.pullOnce();
      const rows = await t.db.query<{ idempotency_key: string; status: string; error: string }>(
        "select idempotency_key, status, coalesce(error, '') as error from inbound_alerts order by id",
      );
      assert.deepEqual(rows.map((r) => r.status), ["RECEIVED", "INVALID", "INVALID", "RECEIVED"]);
      assert.match(rows[1].error, /unpaired UTF-16 surrogate/);
      assert.match(rows[2].error, /nests deeper than/);
    } finally {
      await server.shutdown();
    }
  },
});
