/**
 * Runs every benchmark in bench/ one after the other (or the ones named on the command line),
 * each in its own process so that one's memory does not colour the next.
 *   deno task bench                 all of them
 *   deno task bench startup outbox  only these
 */
const dir = new URL("./", import.meta.url);
const all: string[] = [];
for await (const e of Deno.readDir(dir)) {
  if (e.isFile && e.name.endsWith(".ts") && e.name !== "run.ts") all.push(e.name.slice(0, -3));
}
all.sort();
const chosen = Deno.args.length > 0 ? Deno.args : all;
let failed = 0;
for (const name of chosen) {
  if (!all.includes(name)) {
    console.error(`No benchmark "${name}"; available: ${all.join(", ")}`);
    Deno.exit(2);
  }
  console.log(`\n== bench/${name}.ts`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-cron", new URL(`${name}.ts`, dir).pathname],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) failed++;
}
Deno.exit(failed === 0 ? 0 : 1);
