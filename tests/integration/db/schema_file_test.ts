/**
 * db/schema.sql is the schema the migrations build: a migration added or changed without
 * regenerating the file fails here.
 */
import assert from "node:assert/strict";
import { currentSchema } from "../../../scripts/gen_schema.ts";

Deno.test({
  name: "db/schema.sql matches the schema the migrations build (else run `deno task schema`)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const file = await Deno.readTextFile(new URL("../../../db/schema.sql", import.meta.url));
    const built = await currentSchema();
    if (file === built) return;
    const a = file.split("\n");
    const b = built.split("\n");
    const at = a.findIndex((line, i) => line !== b[i]);
    assert.fail(
      `db/schema.sql is out of date from line ${at + 1} ("${a[at] ?? ""}" vs "${b[at] ?? ""}"); ` +
        "run `deno task schema` and commit the file",
    );
  },
});
