import assert from "node:assert/strict";
import { LIFECYCLE, logger, setupLogging } from "./log.ts";
import { redactText } from "./redact.ts";

const TG = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1";
const WEBHOOK = "wh-secret-0123456789abcdef0123456789";

Deno.test("a token given to the logger never reaches the output", () => {
  const lines: string[] = [];
  setupLogging({ level: "debug", secrets: [WEBHOOK], write: (l) => lines.push(l) });
  const log = logger("test");
  log.info("sending to https://api.telegram.org/bot{token}/sendMessage", { token: TG });
  log.info(`request failed: https://api.telegram.org/bot${TG}/sendMessage`);
  log.warn("webhook rejected {body}", { body: { auth_token: WEBHOOK, symbol: "BTC/USDT" } });
  log.error("exchange said {err}", { err: `signature=abcdef0123 apiKey=KEY123456789` });
  log.info("plain text mentioning the secret " + WEBHOOK);
  const out = lines.join("");
  assert.equal(lines.length, 5);
  assert.ok(!out.includes(TG), "telegram token leaked");
  assert.ok(!out.includes(TG.split(":")[1]), "telegram token secret part leaked");
  assert.ok(!out.includes(WEBHOOK), "webhook token leaked");
  assert.ok(!out.includes("abcdef0123"), "signature leaked");
  assert.ok(!out.includes("KEY123456789"), "api key leaked");
  assert.ok(out.includes("BTC/USDT"), "non-secret fields are kept");
  for (const l of lines) JSON.parse(l);
});

Deno.test("redactText masks passwords in connection URLs", () => {
  assert.equal(
    redactText("connect postgres://app:hunter2@db:5432/x failed"),
    "connect postgres://app:[REDACTED]@db:5432/x failed",
  );
});

Deno.test("the lifecycle lines are kept at every level, other info lines are not", () => {
  const lines: string[] = [];
  setupLogging({ level: "error", write: (l) => lines.push(l) });
  logger("serve").info("routine");
  logger("serve").warn("a warning");
  logger(LIFECYCLE).info("Ready on {url}", { url: "http://127.0.0.1:1" });
  logger(LIFECYCLE).debug("not this");
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]);
  assert.match(line.message, /^Ready on /);
  assert.equal(line.level, "INFO");
  assert.equal(line.properties.url, "http://127.0.0.1:1");
});

Deno.test("messages read as text while properties keep their types", () => {
  const lines: string[] = [];
  setupLogging({ level: "info", write: (l) => lines.push(l) });
  logger("test").info("Ready on {url} in {ms} ms ({flags})", {
    url: "http://127.0.0.1:8080",
    ms: 42,
    flags: ["a", "b"],
    big: 10n,
  });
  const line = JSON.parse(lines[0]);
  assert.equal(line.message, 'Ready on http://127.0.0.1:8080 in 42 ms (["a","b"])');
  assert.equal(line.level, "INFO");
  assert.equal(line.logger, "pg-solo-lite.test");
  assert.deepEqual(line.properties, {
    url: "http://127.0.0.1:8080",
    ms: 42,
    flags: ["a", "b"],
    big: "10",
  });
  assert.ok(lines[0].endsWith("\n"));
});

Deno.test("a cyclic property keeps the line; a secret with a quote is masked", () => {
  const lines: string[] = [];
  const secret = 'se"cret-value-with-quote';
  setupLogging({ level: "info", secrets: [secret], write: (l) => lines.push(l) });
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  logger("test").info("cycle {c}", { c: cyclic });
  logger("test").info("quoted {s}", { s: `x ${secret} y` });
  assert.equal(lines.length, 2);
  assert.equal(JSON.parse(lines[0]).logger, "pg-solo-lite.test");
  assert.ok(!lines[1].includes("cret-value-with-quote"), lines[1]);
});

Deno.test("flat lines (the fast JSON path) mask secrets in plain and escaped values alike", () => {
  const lines: string[] = [];
  setupLogging({ level: "info", secrets: [WEBHOOK], write: (l) => lines.push(l) });
  const log = logger("test");
  const values = [
    WEBHOOK,
    `bot ${TG} said hi`,
    "connect postgres://app:hunter2@db:5432/x",
    "exchange: apiKey=KEY123456789",
    `quoted "${WEBHOOK}"`,
    `tab\t${TG}`,
  ];
  for (const v of values) {
    log.info("Accepted {alertId}: {note} ({n})", { alertId: 7, note: v, n: 1.5 });
  }
  log.info("Plain {alertId} {ok} {nan}", { alertId: 12345, ok: true, nan: Number.NaN });
  assert.equal(lines.length, values.length + 1);
  const out = lines.join("");
  for (const leak of [WEBHOOK, TG.split(":")[1], "hunter2", "KEY123456789"]) {
    assert.ok(!out.includes(leak), `${leak} leaked: ${out}`);
  }
  const parsed = lines.map((l) => JSON.parse(l));
  assert.equal(parsed[2].properties.note, "connect postgres://app:[REDACTED]@db:5432/x");
  assert.equal(parsed[2].message, "Accepted 7: connect postgres://app:[REDACTED]@db:5432/x (1.5)");
  assert.equal(parsed[4].properties.note, 'quoted "[REDACTED]"');
  const last = parsed[values.length];
  assert.equal(last.message, "Plain 12345 true null");
  assert.deepEqual(last.properties, { alertId: 12345, ok: true, nan: null });
});
