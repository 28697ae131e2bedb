/**
 * The intake keeps copies of strategy rows, checked by the write itself (migration 0005): a
 * strategy disabled, changed, re-enabled or deleted after an alert used it takes effect on the
 * very next alert, and a refused alert is never refused on the strength of a copy.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { recordDecision } from "../../../signals/intake.ts";
import type { DecisionInput } from "../../../signals/map.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

let seq = 0;
const decision = (over: Partial<DecisionInput> = {}): DecisionInput =>
  ({
    action: "buy",
    symbol: "BTC/USDT",
    strategy: "flip",
    qty: "0.01",
    price: "50000",
    idempotencyKey: `copy-${++seq}`,
    ...over,
  }) as DecisionInput;

const signal = (over: Partial<DecisionInput> = {}) => ({
  source: "csv" as const,
  rawBody: "{}",
  decision: decision(over),
});

Deno.test({
  name: "a strategy change applies to the next alert although the intake keeps a copy",
  ...serviceTest,
  fn: async () => {
    const t = await testDb();
    try {
      const { db } = t;
      await db.query("insert into strategies (name, stop_pct) values ('flip', 2)");
      const first = await recordDecision(db, signal());
      assert.equal(first.outcome, "accepted");
      assert.equal(first.outcome === "accepted" && first.decision.sl, "49000");

      await db.query("update strategies set enabled = false where name = 'flip'");
      const off = await recordDecision(db, signal());
      assert.equal(off.outcome, "rejected");
      assert.match(off.outcome === "rejected" ? off.error : "", /is disabled/);

      // Enabled again with another stop: the copy that said "disabled" is not trusted.
      await db.query("update strategies set enabled = true, stop_pct = 10 where name = 'flip'");
      const again = await recordDecision(db, signal());
      assert.equal(again.outcome, "accepted");
      assert.equal(again.outcome === "accepted" && again.decision.sl, "45000");

      // Changed with the copy still enabled: the write sees the new version and re-reads.
      await db.query("update strategies set stop_pct = 1 where name = 'flip'");
      const changed = await recordDecision(db, signal());
      assert.equal(changed.outcome === "accepted" && changed.decision.sl, "49500");
      const [row] = await db.query<{ sl: string }>(
        "select decision->>'sl' as sl from inbound_alerts where id = $1",
        [changed.alertId],
      );
      assert.equal(row.sl, "49500");

      await db.query("update strategies set enabled = false where name = 'flip'");
      assert.equal((await recordDecision(db, signal())).outcome, "rejected");
      await db.query("update strategies set enabled = true where name = 'flip'");
      assert.equal((await recordDecision(db, signal())).outcome, "accepted");

      await db.query("delete from strategies where name = 'flip'");
      const gone = await recordDecision(db, signal());
      assert.match(gone.outcome === "rejected" ? gone.error : "", /is unknown/);

      const [n] = await db.query<{ received: number; rejected: number }>(
        `select count(*) filter (where status = 'RECEIVED')::int8 as received,
                count(*) filter (where status = 'REJECTED')::int8 as rejected from inbound_alerts`,
      );
      assert.deepEqual(n, { received: 4, rejected: 3 });
    } finally {
      await t.close();
    }
  },
});
