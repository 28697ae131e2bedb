import assert from "node:assert/strict";
import { serverUrl, testDb } from "../../helpers/db.ts";
import { openServerDb } from "../../../db/server.ts";
import { INSTANCE_LOCK_KEY } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const needsServer = serverUrl() ? "" : " (needs a PostgreSQL server: set TEST_DATABASE_URL)";

Deno.test({
  name: "the instance lock is taken back after its connection dies, unless another took it" +
    needsServer,
  ignore: !serverUrl(),
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const a = await openServerDb({ url: t.url!, poolSize: 2, applicationName: "lock-a" });
    const b = await openServerDb({ url: t.url!, poolSize: 2, applicationName: "lock-b" });
    // pg_terminate_backend only signals the backend: wait until its lock is really released,
    // or the next check may still see it held.
    const killHolder = async () => {
      await t.db.query(
        `select pg_terminate_backend(pid) from pg_locks
          where locktype = 'advisory' and objid = $1 and granted`,
        [INSTANCE_LOCK_KEY],
      );
      for (let i = 0; i < 100; i++) {
        const held = await t.db.query(
          `select 1 from pg_locks where locktype = 'advisory' and objid = $1 and granted`,
          [INSTANCE_LOCK_KEY],
        );
        if (held.length === 0) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error("the lock holder's backend did not go away");
    };
    // Right after its connection is killed a check may fail once (the client notices the
    // loss); the service's lock loop simply checks again at its next tick.
    const check = async (db: typeof a) => {
      for (let i = 0; i < 5; i++) {
        try {
          return await db.tryLockInstance();
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      throw new Error("the lock check kept failing");
    };
    try {
      assert.equal(await a.tryLockInstance(), true);
      assert.equal(await b.tryLockInstance(), false, "a second instance is refused");
      assert.equal(await a.tryLockInstance(), true, "checking again keeps it");

      await killHolder();
      assert.equal(await check(a), true, "taken back on a new connection");
      assert.equal(await check(b), false);

      await killHolder();
      assert.equal(await check(b), true, "b takes the free lock first");
      assert.equal(await check(a), false, "a learns that it lost the lock");
    } finally {
      await a.close();
      await b.close();
    }
  },
});
