/**
 * Webhook benchmark: 5,000 distinct Pine alerts at concurrency 10 to a running `serve`
 * (a subprocess, as in production) backed by a throwaway PostgreSQL database. Reports the ack
 * latency (p50/p99/max) and alerts/s, then checks every acknowledged alert is stored RECEIVED.
 * Targets (SPEC section 9): p99 ≤ 10 ms, ≥ 1,500 alerts/s.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test deno run -A bench/webhook.ts
 *   options: --alerts N (5000) --concurrency N (10) --warmup N (200)
 */
import { parseArgs } from "node:util";
import { testDb } from "../tests/helpers/db.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    alerts: { type: "string", default: "5000" },
    concurrency: { type: "string", default: "10" },
    warmup: { type: "string", default: "200" },
  },
});
const ALERTS = Number(values.alerts);
const CONCURRENCY = Number(values.concurrency);
const WARMUP = Number(values.warmup);
const TOKEN = "bench-token-0123456789abcdef0123456789";

if (!Deno.env.get("TEST_DATABASE_URL")) {
  console.error(
    "Set TEST_DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/test",
  );
  Deno.exit(2);
}

const t = await testDb();
await t.db.query("insert into strategies (name) values ('bench')");
const root = new URL("../", import.meta.url).pathname;
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "--unstable-cron", `${root}main.ts`, "serve"],
  env: {
    DATABASE_URL: t.url!,
    HTTP_PORT: "0",
    PINE_WEBHOOK_TOKEN: TOKEN,
    LOG_LEVEL: "info",
  },
  stdout: "null",
  stderr: "piped",
}).spawn();

// The URL comes from the ready line; the rest of the log is drained so the pipe never fills.
const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
let url: string | undefined;
let buffered = "";
let readyMs = NaN;
while (!url) {
  const { done, value } = await reader.read();
  if (done) throw new Error("serve exited before it was ready");
  buffered += value;
  const lines = buffered.split("\n");
  buffered = lines.pop() ?? "";
  for (const line of lines) {
    if (!line.includes("Ready on")) continue;
    const p = JSON.parse(line).properties;
    url = p.url;
    readyMs = p.readyMs;
  }
}
const drain = (async () => {
  while (!(await reader.read()).done) { /* discard */ }
})();

let seq = 0;
async function postOne(): Promise<number> {
  const n = ++seq;
  const body = JSON.stringify({
    symbol: n % 2 ? "BINANCE:BTCUSDT" : "ETH/USDT",
    side: n % 3 ? "buy" : "sell",
    strategy: "bench",
    qty: "0.001",
    price: String(50_000 + (n % 100)),
    ts: new Date().toISOString(),
    idempotency_key: `bench-${n}`,
    auth_token: TOKEN,
  });
  const t0 = performance.now();
  const res = await fetch(`${url}/alerts/pine`, {
    method: "POST",
    headers: { "content-type": "text/plain; charset=utf-8" },
    body,
  });
  await res.body?.cancel();
  const ms = performance.now() - t0;
  if (res.status !== 202) throw new Error(`Alert ${n} answered ${res.status}`);
  return ms;
}

async function run(total: number): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = [];
  let started = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (started < total) {
        started++;
        latencies.push(await postOne());
      }
    }),
  );
  return { latencies, wallMs: performance.now() - t0 };
}

try {
  await run(WARMUP);
  const { latencies, wallMs } = await run(ALERTS);
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)];
  const [stored] = await t.db.query<{ n: number }>(
    "select count(*)::int8 as n from inbound_alerts where status = 'RECEIVED'",
  );
  const result = {
    bench: "webhook",
    alerts: ALERTS,
    concurrency: CONCURRENCY,
    p50_ms: +pct(0.5).toFixed(2),
    p99_ms: +pct(0.99).toFixed(2),
    max_ms: +latencies[latencies.length - 1].toFixed(2),
    alerts_per_s: Math.round(ALERTS / (wallMs / 1000)),
    stored_received: stored.n,
    expected_received: ALERTS + WARMUP,
    serve_ready_ms: readyMs,
  };
  console.log("metric            value     target");
  console.log(`p50 ack           ${result.p50_ms.toFixed(2).padStart(6)} ms`);
  console.log(`p99 ack           ${result.p99_ms.toFixed(2).padStart(6)} ms  ≤ 10 ms`);
  console.log(`max ack           ${result.max_ms.toFixed(2).padStart(6)} ms`);
  console.log(`alerts/s          ${String(result.alerts_per_s).padStart(6)}     ≥ 1500`);
  console.log(
    `stored RECEIVED   ${
      String(result.stored_received).padStart(6)
    }     = ${result.expected_received}`,
  );
  console.log(JSON.stringify(result));
} finally {
  child.kill("SIGTERM");
  await child.status;
  await drain.catch(() => {});
  await t.close();
}
