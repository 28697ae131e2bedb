import assert from "node:assert/strict";
import { checkFile } from "./check_layers.ts";

Deno.test("the layer check refuses an import of a room above", () => {
  const v = checkFile("execution/agent.ts", 'import { x } from "../service/mod.ts";');
  assert.equal(v.length, 1);
  assert.match(v[0].reason, /execution\/ imports service\/, which is above it/);
});

Deno.test("the layer check refuses reaching past another room's mod.ts", () => {
  const v = checkFile("execution/agent.ts", 'import type { Db } from "../db/db.ts";');
  assert.equal(v.length, 1);
  assert.match(v[0].reason, /past its mod\.ts/);
});

Deno.test("the layer check allows mod.ts, its own room, core/ and trading/ files", () => {
  const source = [
    'import { openDb } from "../db/mod.ts";',
    'import { plan } from "./plan.ts";',
    'import { limits } from "../core/limits.ts";',
    'import type { TradingDecision } from "../trading/decision.ts";',
    'import ccxt from "ccxt";',
  ].join("\n");
  assert.deepEqual(checkFile("execution/agent.ts", source), []);
});

Deno.test("the layer check sees multi-line, export-from and dynamic imports", () => {
  const source = [
    "import {",
    "  a,",
    "  b,",
    '} from "../cli/mod.ts";',
    'export { c } from "../http/server.ts";',
    'const m = await import("../service/service.ts");',
  ].join("\n");
  const v = checkFile("signals/webhook.ts", source);
  assert.deepEqual(v.map((x) => x.specifier), [
    "../cli/mod.ts",
    "../http/server.ts",
    "../service/service.ts",
  ]);
});

Deno.test("the layer check names a file that is in no room", () => {
  const v = checkFile("misc/thing.ts", "");
  assert.match(v[0].reason, /in no room/);
});
