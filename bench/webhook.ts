/**
 * Webhook benchmark: 5,000 distinct Pine alerts at concurrency 10 to a running `serve`
 * (a subprocess, as in production) backed by a throwaway PostgreSQL database. Reports the ack
 * latency (p50/p99/max) and alerts/s, then checks every acknowledged alert is stored RECEIVED.
 * Targets (SPEC section 9): p99 ≤ 10 ms, ≥ 1,500 alerts/s.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test deno run -A bench/webhook.ts
 *   options: --alerts N (5000) --concurrency N (10) --warmup N (200)
 *            --clients N (1): spread the load over N client processes (the concurrency is split
 *            between them), to see whether the client itself is the bottleneck
 *            --log-level L (info): LOG_LEVEL of serve
 * On Linux it also reports the CPU seconds spent per alert by serve, the client process(es) and
 * PostgreSQL during the measured run (from /proc), which says where the time goes on a busy
 * machine better than the latency does.
 */
import { parseArgs } from "node:util";
import { testDb } from "../tests/helpers/db.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    alerts: { type: "string", default: "5000" },
    concurrency: { type: "string", default: "10" },
    warmup: { type: "string", default: "200" },
    clients: { type: "string", default: "1" },
    "log-level": { type: "string", default: "info" },
    // Internal: a client process started by --clients; posts to this URL, prints latencies.
    "client-of": { type: "string" },
    "client-first": { type: "string", default: "0" },
  },
});
const ALERTS = Number(values.alerts);
const CONCURRENCY = Number(values.concurrency);
const WARMUP = Number(values.warmup);
const CLIENTS = Math.max(1, Number(values.clients));
const TOKEN = "bench-token-0123456789abcdef0123456789";
let url: string | undefined;
let seq = 0;

if (values["client-of"]) {
  // A client process: the alerts [first, first + alerts) at the given concurrency.
  url = values["client-of"];
  seq = Number(values["client-first"]);
  const cpu0 = cpuS("self");
  const { latencies, wallMs } = await run(ALERTS);
  console.log(JSON.stringify({ latencies, wallMs, cpuS: cpuS("self") - cpu0 }));
  Deno.exit(0);
}

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
    LOG_LEVEL: values["log-level"],
  },
  stdout: "null",
  stderr: "piped",
}).spawn();

function loadAverage1m(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

// The URL comes from the ready line; the rest of the log is drained so the pipe never fills.
// Raw bytes, decoded only until the ready line: the client shares the CPU with serve, and
// decoding a log line per alert here cost it ~40 µs per alert.
const reader = child.stderr.getReader();
const decoder = new TextDecoder();
let buffered = "";
let readyMs = NaN;
while (!url) {
  const { done, value } = await reader.read();
  if (done) throw new Error("serve exited before it was ready");
  buffered += decoder.decode(value, { stream: true });
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

/** CPU seconds (user + system) of a process so far, from /proc; NaN elsewhere. */
function cpuS(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds of all PostgreSQL processes on this machine (backends come and go: + children). */
function postgresCpuS(): number {
  let total = 0;
  try {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
        if (!stat.includes("(postgres)")) continue;
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
      } catch { /* exited meanwhile */ }
    }
  } catch {
    return NaN;
  }
  return total;
}

/** The measured run from CLIENTS processes, each with its share of alerts and concurrency. */
async function runClients(total: number): Promise<
  { latencies: number[]; wallMs: number; clientCpuS: number }
> {
  const share = Math.ceil(total / CLIENTS);
  const outs = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL(import.meta.url).pathname,
          `--client-of=${url}`,
          `--client-first=${1_000_000 * (i + 1)}`,
          `--alerts=${share}`,
          `--concurrency=${Math.max(1, Math.round(CONCURRENCY / CLIENTS))}`,
        ],
        stderr: "inherit",
      }).output()),
  );
  const parts = outs.map((o) => {
    if (!o.success) throw new Error("A client process failed");
    return JSON.parse(new TextDecoder().decode(o.stdout));
  });
  return {
    latencies: parts.flatMap((p) => p.latencies),
    // Each client times its own run (process start-up excluded); they overlap almost fully.
    wallMs: Math.max(...parts.map((p) => p.wallMs)),
    clientCpuS: parts.reduce((a, p) => a + p.cpuS, 0),
  };
}

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
  const cpu0 = { serve: cpuS(child.pid), client: cpuS("self"), pg: postgresCpuS() };
  const measured = CLIENTS > 1
    ? await runClients(ALERTS)
    : { ...(await run(ALERTS)), clientCpuS: NaN };
  const { latencies, wallMs } = measured;
  const perAlertUs = (s: number) => Math.round(s / latencies.length * 1e6);
  const cpu = {
    serve_cpu_us_per_alert: perAlertUs(cpuS(child.pid) - cpu0.serve),
    client_cpu_us_per_alert: perAlertUs(
      CLIENTS > 1 ? measured.clientCpuS : cpuS("self") - cpu0.client,
    ),
    postgres_cpu_us_per_alert: perAlertUs(postgresCpuS() - cpu0.pg),
  };
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)];
  const [stored] = await t.db.query<{ n: number }>(
    "select count(*)::int8 as n from inbound_alerts where status = 'RECEIVED'",
  );
  const result = {
    bench: "webhook",
    alerts: latencies.length,
    concurrency: CONCURRENCY,
    clients: CLIENTS,
    log_level: values["log-level"],
    p50_ms: +pct(0.5).toFixed(2),
    p99_ms: +pct(0.99).toFixed(2),
    max_ms: +latencies[latencies.length - 1].toFixed(2),
    alerts_per_s: Math.round(latencies.length / (wallMs / 1000)),
    stored_received: stored.n,
    expected_received: latencies.length + WARMUP,
    serve_ready_ms: readyMs,
    ...cpu,
    load_average_1m: loadAverage1m(),
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
  console.log(
    `CPU per alert     serve ${cpu.serve_cpu_us_per_alert} µs, client(s) ${cpu.client_cpu_us_per_alert} µs, PostgreSQL ${cpu.postgres_cpu_us_per_alert} µs`,
  );
  console.log(JSON.stringify(result));
} finally {
  child.kill("SIGTERM");
  await child.status;
  await drain.catch(() => {});
  await t.close();
}
