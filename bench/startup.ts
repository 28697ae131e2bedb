/**
 * Cold start of `serve` to ready, and its idle RSS, with a server database and embedded.
 * Run: deno run -A bench/startup.ts [--runs N]    (server: TEST_DATABASE_URL, default local)
 * Prints a table and one JSON line.
 */
import { testDb } from "../tests/helpers/db.ts";
import { spawnServe } from "../tests/helpers/process.ts";

const runs = Number(Deno.args[Deno.args.indexOf("--runs") + 1]) || 5;
const serverUrl = Deno.env.get("TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";

function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

async function measure(kind: "server" | "embedded") {
  if (kind === "server") Deno.env.set("TEST_DATABASE_URL", serverUrl);
  else Deno.env.delete("TEST_DATABASE_URL");
  const t = await testDb({ onDisk: true });
  if (t.kind === "embedded") await t.db.close();
  const env: Record<string, string> = t.url ? { DATABASE_URL: t.url } : { DATA_DIR: t.dataDir! };
  const wall: number[] = [];
  const internal: number[] = [];
  let idleRss = 0;
  try {
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const serve = await spawnServe(env);
      wall.push(performance.now() - t0);
      const ready = serve.lines.find((l) => l.includes('"Ready on'))!;
      internal.push(JSON.parse(ready).properties.readyMs);
      if (i === runs - 1) {
        await new Promise((r) => setTimeout(r, 3_000));
        idleRss = rssMb(serve.child.pid);
      }
      await serve.stop();
    }
  } finally {
    await t.close();
  }
  return {
    kind,
    runs,
    process_to_ready_p50_ms: Math.round(pct(wall, 0.5)),
    process_to_ready_max_ms: Math.round(Math.max(...wall)),
    service_ready_p50_ms: Math.round(pct(internal, 0.5)),
    idle_rss_mb: idleRss,
  };
}

const results = [await measure("server"), await measure("embedded")];
console.log("kind      runs  process→ready p50  max     service ready p50  idle RSS");
for (const r of results) {
  console.log(
    `${r.kind.padEnd(9)} ${String(r.runs).padEnd(5)} ${
      String(r.process_to_ready_p50_ms + " ms").padEnd(18)
    } ${String(r.process_to_ready_max_ms + " ms").padEnd(7)} ${
      String(r.service_ready_p50_ms + " ms").padEnd(18)
    } ${r.idle_rss_mb} MB`,
  );
}
console.log(JSON.stringify({ bench: "startup", results }));
