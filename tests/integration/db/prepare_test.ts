/**
 * Prepared statements (QueryOptions.prepare) give the same rows and types as unprepared ones,
 * and keep working when the objects they read change under them (postgres.js re-prepares on
 * "cached plan must not change result type"). Both drivers.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  name: "a prepared statement returns what an unprepared one does, also after an ALTER",
  ...serviceTest,
  fn: async () => {
    const t = await testDb();
    try {
      const { db } = t;
      await db.exec(`create table prep_t (id int8 primary key, price numeric, at timestamptz,
        doc jsonb);
        insert into prep_t values (1, 1.50, '2026-01-02T03:04:05Z', '{"a":1}')`);
      const text = "select * from prep_t where id = $1";
      const plain = await db.query(text, [1]);
      // Several times, so every pooled connection has the statement prepared.
      for (let i = 0; i < 12; i++) {
        assert.deepEqual(await db.query(text, [1], { prepare: true }), plain);
      }
      assert.deepEqual([...plain], [{
        id: 1,
        price: "1.50",
        at: new Date("2026-01-02T03:04:05Z"),
        doc: { a: 1 },
      }]);
      await db.exec("alter table prep_t add column note text default 'x'");
      for (let i = 0; i < 12; i++) {
        const [row] = await db.query<{ note: string }>(text, [1], { prepare: true });
        assert.equal(row.note, "x");
      }
    } finally {
      await t.close();
    }
  },
});
