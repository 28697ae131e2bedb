/**
 * The grouped writer of accepted signals (signals/record_batch.ts, migrations 0017, 0022):
 * writes arriving while others are in flight go in one statement, each still gets its own
 * answer, a key given twice in one batch is a duplicate, one bad or late write fails alone,
 * and a second statement goes alongside the first only once enough writes wait.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";
import type { Db } from "../../../db/mod.ts";
import { type InboundWrite, recordInbound } from "../../../signals/record_batch.ts";
import { isLateWriteError } from "../../../signals/intake.ts";
import { readStrategyRow, type StrategyRow } from "../../../signals/strategies.ts";
import { DatabaseUnavailableError } from "../../../core/errors.ts";
import { limits } from "../../../core/limits.ts";

/** The same database, with the writer's statements counted (a Db of its own: its own writer). */
function counted(db: Db): { db: Db; statements: () => number } {
  let n = 0;
  const wrapped: Db = {
    ...db,
    query: (text, params, options) => {
      if (text.includes("record_inbound_decisions")) n++;
      return db.query(text, params, options);
    },
  };
  return { db: wrapped, statements: () => n };
}

/** Inserts the strategy "batch"; gives a signal's write for it, per key. */
async function writerFor(
  db: Db,
): Promise<(key: string, over?: Partial<InboundWrite>) => InboundWrite> {
  await insertStrategy(db, "batch");
  const strategy: StrategyRow = (await readStrategyRow(db, "batch"))!;
  return (key, over = {}) => ({
    source: "pine",
    key,
    hash: `hash-${key}`,
    rawBody: JSON.stringify({ symbol: "BTC/USDT", key }),
    payloadJson: JSON.stringify({ symbol: "BTC/USDT" }),
    remoteAddr: "127.0.0.1",
    decisionJson: JSON.stringify({ action: "buy", symbol: "BTC/USDT", idempotencyKey: key }),
    lineNo: null,
    dedupeDay: "2026-01-01",
    strategy: strategy.name,
    strategyVersion: strategy.version,
    receivedAt: new Date(),
    acceptBy: new Date(Date.now() + 60_000),
    ...over,
  });
}

Deno.test({
  name: "signals written together share a statement; a bad or late one fails alone",
  ...serviceTest,
  fn: async () => {
    const t = await testDb();
    try {
      const write = await writerFor(t.db);
      const { db, statements } = counted(t.db);

      // More writes at once than may be in flight: the rest wait and go together.
      const keys = Array.from({ length: 10 }, (_, i) => `b-${i}`);
      keys[8] = "b-7"; // the same key and payload twice, both in the waiting batch
      const rows = await Promise.all(keys.map((k) => recordInbound(db, write(k))));
      assert.ok(statements() < keys.length, `${statements()} statements for ${keys.length}`);
      assert.ok(statements() >= limits.intakeWritesInFlight);
      assert.deepEqual(rows.map((r) => r.status), [
        ...Array(8).fill("RECEIVED"),
        "DUPLICATE",
        "RECEIVED",
      ]);
      assert.equal(rows[8].first_id, rows[7].id);
      assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, "one row per signal");

      // A write the database refuses (an unknown source) and one past its deadline, among
      // good ones: each good one is stored, the two fail with their own errors.
      const settled = await Promise.allSettled([
        ...Array.from(
          { length: limits.intakeWritesInFlight },
          (_, i) => recordInbound(db, write(`c-${i}`)),
        ),
        recordInbound(db, write("c-bad", { source: "bogus" })),
        recordInbound(db, write("c-late", { acceptBy: new Date(Date.now() - 1) })),
        recordInbound(db, write("c-ok-1")),
        recordInbound(db, write("c-ok-2")),
      ]);
      const status = settled.map((s) => s.status === "fulfilled" ? s.value.status : "failed");
      assert.deepEqual(status, [
        ...Array(limits.intakeWritesInFlight).fill("RECEIVED"),
        "failed",
        "failed",
        "RECEIVED",
        "RECEIVED",
      ]);
      const bad = (settled.at(-4) as PromiseRejectedResult).reason;
      assert.ok(!(bad instanceof DatabaseUnavailableError) && !isLateWriteError(bad), String(bad));
      assert.ok(isLateWriteError((settled.at(-3) as PromiseRejectedResult).reason));

      const [stored] = await t.db.query<{ n: number; keys: number }>(
        `select count(*)::int as n, (select count(*)::int from inbound_dedupe_keys) as keys
           from inbound_alerts`,
      );
      assert.deepEqual(stored, {
        n: 10 + limits.intakeWritesInFlight + 2,
        keys: 9 + limits.intakeWritesInFlight + 2,
      });
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "a second write goes alongside the first only once enough signals wait for it",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const write = await writerFor(t.db);
    const sizes: number[] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => open = r);
    // The first statement is held until the gate opens: the writes behind it must wait.
    const db: Db = {
      ...t.db,
      query: async (text, params, options) => {
        if (!text.includes("record_inbound_decisions")) return t.db.query(text, params, options);
        sizes.push(JSON.parse(String(params![0])).length);
        if (sizes.length === 1) await gate;
        return t.db.query(text, params, options);
      },
    };
    const tick = () => new Promise((r) => setTimeout(r, 20));
    const done = [recordInbound(db, write("j-0"))];
    for (let i = 1; i < limits.intakeWriteJoinMin; i++) {
      done.push(recordInbound(db, write(`j-${i}`)));
    }
    await tick();
    assert.deepEqual(sizes, [1], "fewer than the minimum wait for the first");
    done.push(recordInbound(db, write(`j-${limits.intakeWriteJoinMin}`)));
    await tick();
    assert.deepEqual(sizes, [1, limits.intakeWriteJoinMin], "then they go alongside it");
    open();
    const rows = await Promise.all(done);
    assert.ok(rows.every((r) => r.status === "RECEIVED"));
  },
});
