import assert from "node:assert/strict";
import { logger, setupLogging } from "./log.ts";

const SECRET = "fmt-secret-0123456789abcdef0123456789";

function capture(format: "auto" | "json" | "pretty", isTerminal: boolean): string[] {
  const lines: string[] = [];
  setupLogging({
    level: "info",
    secrets: [SECRET],
    format,
    isTerminal,
    write: (l) => lines.push(l),
  });
  const log = logger("webhook");
  log.info("Accepted Pine alert {alertId}: {symbol}", { alertId: 7, symbol: "BTC/USDT", ms: 3 });
  log.warn(`the token ${SECRET} in the message`, { password: "hunter2-hunter2", note: SECRET });
  log.error("failed:\n{error}", { error: new Error(`postgres://app:pw123456@db/x ${SECRET}`) });
  return lines;
}

Deno.test("auto on a terminal: one coloured pretty line per event, secrets masked", () => {
  const lines = capture("auto", true);
  assert.equal(lines.length, 3);
  for (const l of lines) {
    assert.ok(l.endsWith("\n") && !l.slice(0, -1).includes("\n"), `one line: ${l}`);
    assert.throws(() => JSON.parse(l), "not JSON");
  }
  assert.ok(lines[0].includes("\x1b[32mINFO"), "green INFO");
  assert.match(lines[0], /webhook.* Accepted Pine alert 7: BTC\/USDT ms=3\n$/);
  const out = lines.join("");
  assert.ok(!out.includes(SECRET) && !out.includes("hunter2") && !out.includes("pw123456"));
  assert.match(lines[1], /the token \[REDACTED\] in the message/);
});

Deno.test("auto through a pipe: JSON lines, secrets masked", () => {
  const lines = capture("auto", false);
  assert.equal(lines.length, 3);
  const records = lines.map((l) => JSON.parse(l));
  assert.equal(records[0].message, "Accepted Pine alert 7: BTC/USDT");
  assert.equal(records[0].properties.alertId, 7);
  const out = lines.join("");
  assert.ok(!out.includes(SECRET) && !out.includes("hunter2") && !out.includes("pw123456"));
  assert.ok(!out.includes("\x1b["), "no colour codes in JSON");
});

Deno.test("pretty through a pipe has no colour; json on a terminal stays JSON", () => {
  const pretty = capture("pretty", false);
  assert.ok(!pretty.join("").includes("\x1b["));
  assert.match(pretty[0], /^\d\d:\d\d:\d\d\.\d{3} INFO {2}webhook Accepted Pine alert 7/);
  for (const l of capture("json", true)) JSON.parse(l);
});
