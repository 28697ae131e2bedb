/**
 * README's command table lists every command of `help`, in its order, each row starting with
 * the command's summary (cli/commands.ts is the one place summaries are written).
 */
import assert from "node:assert/strict";
import { commands } from "../../../cli/mod.ts";

/** The rows of the table under "## Commands": [first word of the command cell, description]. */
export function commandRows(readme: string): [string, string][] {
  const section = readme.split(/^## Commands$/m)[1]?.split(/^## /m)[0] ?? "";
  return section.split("\n")
    .filter((line) => /^\| `/.test(line))
    .map((line) => {
      const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
      return [cells[1].replace(/`/g, "").split(" ")[0], cells[2]];
    });
}

Deno.test("README's command table lists every command with its summary, in help's order", async () => {
  const readme = await Deno.readTextFile(new URL("../../../README.md", import.meta.url));
  const rows = commandRows(readme);
  assert.deepEqual(rows.map(([name]) => name), commands.map((c) => c.name));
  for (const [name, description] of rows) {
    const summary = commands.find((c) => c.name === name)!.summary;
    assert.ok(
      description.startsWith(summary),
      `README's row of "${name}" should start with its summary "${summary}": "${description}"`,
    );
  }
});

Deno.test("the README table check notices a missing command", () => {
  const readme = "## Commands\n\n| command | what |\n| --- | --- |\n| `serve` | Run |\n\n## Next";
  assert.deepEqual(commandRows(readme), [["serve", "Run"]]);
  assert.notDeepEqual(commandRows(readme).map(([n]) => n), commands.map((c) => c.name));
});
