/**
 * LOG_FORMAT=auto through the real setup in a real process: pretty and coloured on a
 * terminal (a pseudo-terminal from `script`), JSON lines through a pipe, a secret masked in
 * both, and the batched lines all written before the process ends (normal end and Deno.exit).
 */
import assert from "node:assert/strict";
import { RUN_FLAGS } from "../helpers/process.ts";

const FIXTURE = new URL("../fixtures/log_lines.ts", import.meta.url).pathname;
const SECRET = "pty-secret-0123456789abcdef0123456789";
const env = {
  PATH: Deno.env.get("PATH") ?? "",
  HOME: Deno.env.get("HOME") ?? "/tmp",
  DENO_DIR: Deno.env.get("DENO_DIR") ?? "",
  PINE_WEBHOOK_TOKEN: SECRET,
};
const dec = new TextDecoder();
const hasScript = (() => {
  try {
    return new Deno.Command("script", { args: ["--version"] }).outputSync().success;
  } catch {
    return false;
  }
})();

function assertMasked(text: string) {
  assert.ok(!text.includes(SECRET), "the secret is masked");
  assert.ok(!text.includes(SECRET.slice(0, 20)), "no part of the secret");
  assert.match(text, /\[REDACTED\]/);
}

for (const ending of ["", "exit"]) {
  Deno.test(`piped: JSON lines, every one written, secret masked (${ending || "end"})`, async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_FLAGS, FIXTURE, "500", ending],
      env,
      clearEnv: true,
    }).output();
    assert.equal(out.code, 0);
    const lines = dec.decode(out.stderr).trim().split("\n");
    assert.equal(lines.length, 501);
    const records = lines.map((l) => JSON.parse(l));
    assert.deepEqual(records.slice(0, 500).map((r) => r.properties.n), [
      ...Array.from({ length: 500 }, (_, i) => i + 1),
    ]);
    assertMasked(lines.join("\n"));
  });
}

Deno.test({
  name: "on a terminal: pretty coloured lines, secret masked",
  ignore: !hasScript,
  fn: async () => {
    const cmd = [Deno.execPath(), "run", ...RUN_FLAGS, FIXTURE, "3"].join(" ");
    const out = await new Deno.Command("script", {
      args: ["-qec", cmd, "/dev/null"],
      env,
      clearEnv: true,
      stdin: "null",
    }).output();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    const text = dec.decode(out.stdout);
    const lines = text.split(/\r?\n/).filter((l) => l.includes("fixture"));
    assert.equal(lines.length, 4, text);
    assert.ok(lines[0].includes("\x1b[32mINFO "), "green INFO");
    assert.match(lines[0], /line 1 with the token auth_token=\[REDACTED\] inside/);
    for (const l of lines) assert.throws(() => JSON.parse(l));
    assertMasked(text);
  },
});
