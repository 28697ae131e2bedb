/**
 * DATA_DIR anywhere: with the permissions of `deno task cli`/`start` (read from deno.json) an
 * embedded database outside the checkout works; where the permissions do not allow it, the
 * start ends with exit code 2 naming the variable and the fix.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The flags of a deno.json task, between `deno run` and `main.ts`. */
async function taskFlags(task: string): Promise<string[]> {
  const json = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const words = (json.tasks[task] as string).split(/\s+/);
  return words.slice(words.indexOf("run") + 1, words.indexOf("main.ts"));
}

async function run(flags: string[], args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, "main.ts", ...args],
    cwd: ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      NO_COLOR: "1",
      ...env,
    },
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("the start task's permissions accept a DATA_DIR outside the checkout", async () => {
  for (const task of ["start", "cli"]) {
    const flags = await taskFlags(task);
    assert.ok(flags.length > 0, `deno.json has a ${task} task`);
  }
  const root = await Deno.makeTempDir({ prefix: "pgsl-anywhere-" });
  try {
    const dataDir = `${root}/var/lib/pgsl`;
    const r = await run(await taskFlags("start"), ["migrate"], { DATA_DIR: dataDir });
    assert.equal(r.code, 0, r.stderr);
    await Deno.stat(`${dataDir}/pg`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a DATA_DIR or BACKUP_DIR the permissions do not allow ends with exit 2 and the fix", async () => {
  const flags = (await taskFlags("start")).map((f) =>
    f === "--allow-write" ? "--allow-write=./data" : f
  );
  const r = await run(flags, ["migrate"], {
    DATA_DIR: "/nonexistent/pgsl-data",
    BACKUP_DIR: "/nonexistent/pgsl-backups",
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /DATA_DIR: \/nonexistent\/pgsl-data is not writable/);
  assert.match(r.stderr, /--allow-write=\/nonexistent\/pgsl-data/);
  assert.match(r.stderr, /BACKUP_DIR/);
});
