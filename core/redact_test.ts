import assert from "node:assert/strict";
import { redactText, registerSecrets, SECRET_PATTERNS } from "./redact.ts";

const SECRET = "redact-test-secret-0123456789";
registerSecrets([SECRET]);

/** redactText without its shortcut: the literal secrets, then every pattern, always. */
function everyPattern(text: string): string {
  let out = text.split(SECRET).join("[REDACTED]");
  out = out.replace(SECRET_PATTERNS[0], "[REDACTED]").replace(SECRET_PATTERNS[1], "[REDACTED]");
  out = out.replace(SECRET_PATTERNS[2], (_m, key: string, sep: string) => `${key}${sep}[REDACTED]`);
  return out.replace(SECRET_PATTERNS[3], (_m, head: string) => `${head}[REDACTED]@`);
}

const PIECES = [
  '"auth_token":"[REDACTED]"',
  '"auth_token":"[REDACTED]x"',
  '"auth_token": "abc"',
  "auth_token=abc",
  "Accepted Pine alert 12345: buy BTC/USDT (trend)",
  "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1",
  "bot123456:AAHdqTcvCH1vGWJxfSeofSAs0",
  "12345:",
  "postgres://app:hunter2@db:5432/x",
  "://",
  "password=hunter2",
  "?sslpassword=hunter2&",
  "secret: y",
  "api_key=K",
  SECRET,
  '"',
  ",",
  " ",
  "12345",
  "1234",
  "9",
  "AAHdqTcvCH1vGWJxfSeof",
  " 12345:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1",
  "Ab-_9",
  ":",
  "[REDACTED]",
];

Deno.test("redactText's shortcut changes nothing: the same text as every pattern run", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let masked = 0;
  for (let i = 0; i < 20_000; i++) {
    const n = 1 + Math.floor(random() * 6);
    const text = Array.from({ length: n }, () => PIECES[Math.floor(random() * PIECES.length)])
      .join("");
    const expected = everyPattern(text);
    assert.equal(redactText(text), expected, text);
    if (expected !== text) masked++;
  }
  assert.ok(masked > 1_000, `${masked} texts masked`);
});

Deno.test("a masked auth_token or an alert id does not hide another secret", () => {
  assert.equal(
    redactText('{"auth_token":"[REDACTED]","note":"password=hunter2"}'),
    '{"auth_token":"[REDACTED]","note":"password=[REDACTED]"}',
  );
  assert.equal(
    redactText("alert 12345: sent to bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"),
    "alert 12345: sent to [REDACTED]",
  );
  const plain = "Accepted Pine alert 12345: buy BTC/USDT (trend)";
  assert.equal(redactText(plain), plain);
});

Deno.test("a database URL's password and sslpassword parameters are masked", () => {
  assert.equal(
    redactText("postgres://app@db/x?sslmode=require&password=hunter2&sslpassword=keypass1"),
    "postgres://app@db/x?sslmode=require&password=[REDACTED]&sslpassword=[REDACTED]",
  );
});
