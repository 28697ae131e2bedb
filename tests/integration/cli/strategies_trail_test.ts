/**
 * `strategies add --trail-pct N [--trail-activation-pct N]`: the trail is written, listed and
 * removed with "none"; out-of-range values and an activation without a trail are refused (exit
 * code 2) and change nothing.
 */
import assert from "node:assert/strict";
import { cliDb } from "../../helpers/cli_db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name:
    "strategies add --trail-pct: set, listed, removed; 0, 100, negatives and a lone activation refused",
  fn: async () => {
    await using t = await cliDb();
    const trailOf = async () => {
      const rows = JSON.parse((await t.cli(["strategies", "list", "--json"])).out) as {
        name: string;
        trail_pct: string;
        trail_activation_pct: string;
      }[];
      const s = rows.find((r) => r.name === "swing")!;
      return [s.trail_pct, s.trail_activation_pct];
    };
    let r = await t.cli([
      "strategies",
      "add",
      "swing",
      "--trail-pct",
      "2",
      "--trail-activation-pct",
      "1",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual((await trailOf()).map(Number), [2, 1]);

    const refusals: [string[], RegExp][] = [
      [
        ["--trail-pct", "0"],
        /--trail-pct "0" is out of range; give a number above 0 and below 100/,
      ],
      [["--trail-pct", "100"], /--trail-pct "100" is out of range/],
      [["--trail-pct=-1"], /--trail-pct "-1" is out of range/],
      [["--trail-pct", "x"], /--trail-pct "x" is out of range/],
      [
        ["--trail-pct", "2", "--trail-activation-pct=-1"],
        /--trail-activation-pct "-1" is out of range/,
      ],
      [["--trail-activation-pct", "1"], /--trail-activation-pct needs --trail-pct N/],
      [["--trail-pct", "none", "--trail-activation-pct", "1"], /--trail-activation-pct needs/],
    ];
    for (const [flags, message] of refusals) {
      r = await t.cli(["strategies", "add", "swing", ...flags]);
      assert.equal(r.code, 2, `${flags.join(" ")}: ${r.out}${r.err}`);
      assert.match(r.err, message);
    }
    assert.deepEqual((await trailOf()).map(Number), [2, 1], "refusals changed nothing");

    r = await t.cli(["strategies", "add", "swing", "--stop-pct", "3"]);
    assert.deepEqual((await trailOf()).map(Number), [2, 1], "other flags keep the trail");
    r = await t.cli(["strategies", "add", "swing", "--trail-pct", "none"]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(await trailOf(), ["", ""]);
  },
});
