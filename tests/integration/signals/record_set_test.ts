/**
 * record_inbound_decisions as one set-based statement (migration 0022): within a batch, the
 * outcome of each alert is the one the calls in order gave (new key, key claimed before with
 * the same or another payload, a key twice in the batch, a stale strategy version); a batch
 * waiting on a key another session holds answers with that session's alert; alerts are never
 * removed, so every key names a stored alert.
 */
import assert from "node:assert/strict";
import { serverUrl, testDb } from "../../helpers/db.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";
import { addChat } from "../../helpers/outbox.ts";
import { sqlState } from "../../../db/mod.ts";
import { openServerDb } from "../../../db/server.ts";
import { readStrategyRow } from "../../../signals/strategies.ts";

interface Element {
  key: string;
  hash: string;
  version?: string;
}

function batch(elements: Element[], version: string): string {
  return JSON.stringify(elements.map((e) => ({
    source: "pine",
    key: e.key,
    hash: e.hash,
    raw_body: `{"key":"${e.key}"}`,
    payload: { key: e.key },
    remote_addr: "127.0.0.1",
    decision: { action: "buy", symbol: "BTC/USDT", idempotencyKey: e.key },
    line_no: null,
    dedupe_day: "2026-01-01",
    strategy: "set",
    strategy_version: e.version ?? version,
    received_at: new Date().toISOString(),
    accept_by: new Date(Date.now() + 60_000).toISOString(),
  })));
}

interface Answer {
  ord: number;
  id: number | null;
  status: string;
  first_id: number | null;
  error: string | null;
}

const write = (db: { query: <T>(sql: string, p: unknown[]) => Promise<T[]> }, json: string) =>
  db.query<Answer>("select * from record_inbound_decisions($1) order by ord", [json]);

Deno.test({
  name: "one statement gives each alert of a batch the outcome of the calls in order",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    await insertStrategy(t.db, "set");
    await addChat(t.db, 42, "WARN");
    const version = (await readStrategyRow(t.db, "set"))!.version;
    const [before] = await write(t.db, batch([{ key: "old", hash: "h-old" }], version));
    assert.equal(before.status, "RECEIVED");

    const answers = await write(
      t.db,
      batch([
        { key: "new", hash: "h1" },
        { key: "old", hash: "h-old" },
        { key: "stale", hash: "h2", version: "0" },
        { key: "twice", hash: "h3" },
        { key: "old", hash: "h-other" },
        { key: "twice", hash: "h3" },
        { key: "twice", hash: "h4" },
      ], version),
    );
    assert.deepEqual(answers.map((a) => [a.ord, a.status]), [
      [1, "RECEIVED"],
      [2, "DUPLICATE"],
      [3, "STALE"],
      [4, "RECEIVED"],
      [5, "REJECTED"],
      [6, "DUPLICATE"],
      [7, "REJECTED"],
    ]);
    const [fresh, dup, stale, twice, conflict, twiceDup, twiceConflict] = answers;
    // Ids in the order the alerts came, whatever the order of their keys.
    const ids = answers.map((a) => a.id).filter((id) => id !== null);
    assert.deepEqual(ids, [...ids].sort((a, b) => a! - b!));
    assert.equal(fresh.first_id, fresh.id);
    assert.equal(dup.first_id, before.id);
    assert.equal(dup.error, `Duplicate of alert ${before.id}`);
    assert.equal(stale.id, null);
    assert.equal(twiceDup.first_id, twice.id);
    assert.equal(twiceConflict.first_id, twice.id);
    assert.equal(
      conflict.error,
      `Idempotency key "old" was already used by alert ${before.id} with a different payload; ` +
        "send a new key for a new trade",
    );

    // Each stored alert is one row with its settled status; the stale one left nothing.
    const rows = await t.db.query<
      { id: number; status: string; error: string | null; done: boolean }
    >(
      `select id, status, error, processed_at is not null as done from inbound_alerts
        where id = any($1::int8[]) order by id`,
      [answers.filter((a) => a.id !== null).map((a) => a.id)],
    );
    assert.deepEqual(
      rows.map((r) => [r.status, r.done]),
      [["RECEIVED", false], ["DUPLICATE", true], ["RECEIVED", false], ["REJECTED", true], [
        "DUPLICATE",
        true,
      ], ["REJECTED", true]],
    );
    assert.equal(rows.find((r) => r.id === conflict.id)?.error, conflict.error);
    const keys = await t.db.query<{ idempotency_key: string; alert_id: number }>(
      "select idempotency_key, alert_id from inbound_dedupe_keys order by idempotency_key",
    );
    assert.deepEqual(keys.map((k) => [k.idempotency_key, k.alert_id]), [
      ["new", fresh.id],
      ["old", before.id],
      ["twice", twice.id],
    ]);
    // One WARN per REJECTED alert, as record_inbound_decision sent it.
    const warns = await t.db.query<{ text: string }>(
      "select text from notification_outbox where kind = 'inbound_refused' order by id",
    );
    assert.deepEqual(warns.map((w) => w.text), [
      `Inbound pine alert ${conflict.id} refused: ${conflict.error}`,
      `Inbound pine alert ${twiceConflict.id} refused: ${twiceConflict.error}`,
    ]);

    // The stale alert's key was not claimed: sent again with the current version, it is new.
    const [again] = await write(t.db, batch([{ key: "stale", hash: "h2" }], version));
    assert.equal(again.status, "RECEIVED");
  },
});

Deno.test({
  name: "alerts are never removed: every dedupe key names a stored alert",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    await insertStrategy(t.db, "set");
    const version = (await readStrategyRow(t.db, "set"))!.version;
    await write(t.db, batch([{ key: "a", hash: "h" }, { key: "b", hash: "h" }], version));
    for (const sql of ["delete from inbound_alerts", "truncate inbound_alerts cascade"]) {
      await assert.rejects(t.db.exec(sql), (e) => sqlState(e) === "23001", sql);
    }
    const [orphans] = await t.db.query<{ n: number }>(
      `select count(*)::int as n from inbound_dedupe_keys k
        where not exists (select 1 from inbound_alerts a where a.id = k.alert_id)`,
    );
    assert.equal(orphans.n, 0);
  },
});

Deno.test({
  name: "a batch waiting on a key another session is storing answers with that session's alert",
  ignore: !serverUrl(),
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    await insertStrategy(t.db, "set");
    const version = (await readStrategyRow(t.db, "set"))!.version;
    const other = await openServerDb({ url: t.url!, poolSize: 2 });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => release = r);
      let first: Answer[] = [];
      // Session 1 claims "x" and "y" and holds its transaction open.
      const holding = t.db.transaction(async (tx) => {
        first = await write(tx, batch([{ key: "x", hash: "h" }, { key: "y", hash: "h" }], version));
        await held;
      });
      while (first.length === 0) await new Promise((r) => setTimeout(r, 10));
      // Session 2's batch names the keys in the other order: it waits, not deadlocks.
      const waiting = write(
        other,
        batch([{ key: "y", hash: "h" }, { key: "x", hash: "h" }], version),
      );
      await new Promise((r) => setTimeout(r, 100));
      release();
      await holding;
      const second = await waiting;
      assert.deepEqual(second.map((a) => a.status), ["DUPLICATE", "DUPLICATE"]);
      assert.equal(second[0].first_id, first[1].id);
      assert.equal(second[1].first_id, first[0].id);
    } finally {
      await other.close();
    }
  },
});
