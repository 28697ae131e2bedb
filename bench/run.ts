/**
 * Runs every benchmark in bench/ one after the other (or the ones named on the command line),
 * each in its own process so that one's memory does not colour the next.
 *   deno task bench                 all of them
 *   deno task bench startup outbox  only these
 *   deno task bench chaos           the fault bench: on demand only, never in "all"
 */
/** Run only when named: long, and it kills processes and restarts a cluster of its own. */
const ON_DEMAND = ["chaos"];
/**
 * Modules of the benchmarks, not benchmarks: figures from /proc, the webhook's alert, and the bare
 * durable webhook bench/webhook.ts starts (run alone it would serve until killed).
 */
const HELPERS = ["proc", "pine_alert", "webhook_baseline"];
const dir = new URL("./", import.meta.url);
const all: string[] = [];
for await (const e of Deno.readDir(dir)) {
  const name = e.name.slice(0, -3);
  if (e.isFile && e.name.endsWith(".ts") && name !== "run" && !HELPERS.includes(name)) {
    all.push(name);
  }
}
all.sort();
const chosen = Deno.args.length > 0 ? Deno.args : all.filter((n) => !ON_DEMAND.includes(n));
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
