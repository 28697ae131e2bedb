/**
 * The database goes away right after a pass claimed its alerts: every write of the pass fails,
 * the alerts' own release too. When the database is back, the next pass hands them back and
 * trades them; nothing stays PROCESSING until a restart.
 */
import assert from "node:assert/strict";
import { alertOf, insertAlert, testConfig, withLive } from "../../helpers/execution.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { createExecutionAgent } from "../../../execution/agent.ts";
import { systemClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import { DatabaseUnavailableError } from "../../../core/errors.ts";
import type { Db, QueryOptions } from "../../../db/db.ts";

Deno.test({
  ...serviceTest,
  name: "alerts claimed just before a database outage are traded once it is back",
  fn: () =>
    withLive(async ({ db, exchange, fake }) => {
      const id = await insertAlert(db, { idempotencyKey: "outage-mid-pass", qty: "0.001" });
      let down = false;
      let claims = 0;
      const gone = () => Promise.reject(new DatabaseUnavailableError("database down (test)"));
      // The outage starts right after the pass's claim.
      const flaky: Db = {
        ...db,
        query: <T>(text: string, params?: readonly unknown[], options?: QueryOptions) => {
          if (down) return gone();
          const p = db.query<T>(text, params, options);
          if (text.includes("set status = 'PROCESSING'") && ++claims === 1) {
            p.then(() => (down = true), () => {});
          }
          return p;
        },
        exec: (text) => (down ? gone() : db.exec(text)),
        transaction: (fn) => (down ? gone() : db.transaction(fn)),
      };
      const agent = createExecutionAgent({
        db: flaky,
        exchange,
        clock: systemClock,
        log: logger("test"),
        config: testConfig,
      });
      await assert.rejects(agent.runOnce(), DatabaseUnavailableError);
      assert.equal((await alertOf(db, id)).status, "PROCESSING", "left behind by the outage");

      down = false;
      await agent.runOnce(); // hands it back
      await agent.runOnce(); // and trades it
      assert.equal((await alertOf(db, id)).status, "EXECUTED");
      assert.equal(fake.requests["POST order"], 1, "one order");
    }),
});
