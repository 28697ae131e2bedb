/**
 * A pool query that times out is cancelled, not only given up on: the statement that was running
 * may not commit later (an insert reported as failed must not exist). A statement the driver had
 * already pipelined behind it on the same connection can still run once it is reached (the
 * driver's cancel is a separate round trip): execution treats an order of its own alert found
 * later as unknown, to be reconciled (tests/integration/execution/replan_test.ts).
 */
import assert from "node:assert/strict";
import { isDeadlineError } from "../../../core/deadline.ts";
import { openServerDb } from "../../../db/server.ts";
import { serverUrl, testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  name: "a timed-out query is cancelled on the server (needs a PostgreSQL server)",
  ignore: !serverUrl(),
  ...serviceTest,
  async fn() {
    await using t = await testDb();
    await t.db.exec("create table cancel_probe (v int)");
    const db = await openServerDb({ url: t.url!, poolSize: 1, queryTimeoutMs: 300 });
    try {
      // Runs for 1.5 s, five times the bound.
      const [outcome] = await Promise.allSettled([
        db.query("insert into cancel_probe select 1 from pg_sleep(1.5)"),
      ]);
      assert.equal(outcome.status, "rejected");
      // Reported as the database not answering, caused by the bound.
      const reason = (outcome as PromiseRejectedResult).reason;
      assert.ok(isDeadlineError(reason.cause), String(reason));
      // Long enough for the sleep to have ended.
      await new Promise((r) => setTimeout(r, 2_000));
      assert.deepEqual([...await t.db.query("select v from cancel_probe")], []);
      // The pool is usable afterwards.
      assert.deepEqual([...await db.query<{ n: number }>("select 1 as n")], [{ n: 1 }]);
    } finally {
      await db.close();
    }
  },
});
