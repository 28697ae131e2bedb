/**
 * `strategies add --tp-ladder`: stored as levels, shown by `strategies list`, cleared by "none",
 * and refused (exit 2, nothing changed) with the ladder rules' own words.
 */
import assert from "node:assert/strict";
import { cliDb } from "../../helpers/cli_db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name: "strategies add --tp-ladder stores, lists and clears a ladder; a bad one exits 2",
  fn: async () => {
    await using t = await cliDb();
    const ladderOf = async () =>
      (JSON.parse((await t.cli(["strategies", "list", "--json"])).out) as {
        name: string;
        tp_ladder: string;
      }[]).find((s) => s.name === "trend")?.tp_ladder;
    let r = await t.cli(["strategies", "add", "trend", "--tp-ladder", "4:50, 8:50"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /4:50,8:50/);
    assert.equal(await ladderOf(), "4:50,8:50");
    const [row] = await t.withDb((db) =>
      db.query<{ tp_ladder: unknown }>("select tp_ladder from strategies where name = 'trend'")
    );
    assert.deepEqual(row.tp_ladder, [{ pct: 4, share: 50 }, { pct: 8, share: 50 }]);

    for (
      const [ladder, why] of [
        ["4:50,8:40", /--tp-ladder: the ladder's shares add up to 90 %, not 100 %/],
        ["8:50,4:50", /--tp-ladder: ladder levels must rise: 4 % after 8 %/],
        ["4-50", /--tp-ladder: ladder level "4-50" is not PCT:SHARE/],
      ] as const
    ) {
      r = await t.cli(["strategies", "add", "trend", "--tp-ladder", ladder]);
      assert.equal(r.code, 2, ladder);
      assert.match(r.err, why);
    }
    assert.equal(await ladderOf(), "4:50,8:50", "a refused ladder changes nothing");
    r = await t.cli(["strategies", "add", "trend", "--stop-pct", "3"]);
    assert.equal(await ladderOf(), "4:50,8:50", "kept when the flag is not given");
    r = await t.cli(["strategies", "add", "trend", "--tp-ladder", "none"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(await ladderOf(), "");
  },
});
