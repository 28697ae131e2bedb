/**
 * Webhook benchmark: distinct Pine alerts at concurrency 10 to a running `serve` (a
 * subprocess, as in production) backed by a throwaway PostgreSQL database, and, in the same
 * run, to a bare durable webhook (bench/webhook_baseline.ts: Deno.serve + one postgres.js
 * INSERT per request, answered after the commit) on the same database. Rounds alternate
 * between the two (baseline first in odd rounds, serve first in even ones), so a slow or
 * noisy machine slows both; the ratios are the figures that mean the same everywhere.
 * Reports per round and overall: alerts/s, ack latency p50/p99/max, and checks every
 * acknowledged alert is stored. Targets (issue 14): throughput ≥ 0.8× the baseline's, p99 ≤
 * 1.3× its p99 (SPEC section 9 in absolute terms: p99 ≤ 10 ms, ≥ 1,500 alerts/s).
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test deno run -A bench/webhook.ts
 *   options: --alerts N (5000 per round and target) --rounds N (3) --concurrency N (10)
 *            --warmup N (200) --log-level L (info): LOG_LEVEL of serve
 *            --serve-flags "--cpu-prof" (extra deno flags for serve: a CPU profile at its stop)
 *            --clients N (1): spread the load over N client processes (the concurrency is split
 *            between them), to see whether the client itself is the bottleneck
 * On Linux it also reports the CPU seconds spent per alert by each server, the client
 * process(es) and PostgreSQL during the measured rounds (from /proc): all of PostgreSQL's
 * processes, and the target's own sessions alone (the steadier figure when other work shares
 * the server).
 */
import { parseArgs } from "node:util";
import { testDb } from "../tests/helpers/db.ts";
import { cpuS, loadAverage1m, postgresCpuS } from "./proc.ts";
import { BENCH_TOKEN, benchAlertBody } from "./pine_alert.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    alerts: { type: "string", default: "5000" },
    concurrency: { type: "string", default: "10" },
    warmup: { type: "string", default: "200" },
    rounds: { type: "string", default: "3" },
    // Extra deno flags for serve, e.g. --serve-flags=--cpu-prof (a profile in the cwd at stop).
    "serve-flags": { type: "string", default: "" },
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
const ROUNDS = Math.max(1, Number(values.rounds));
const TOKEN = BENCH_TOKEN;
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

/** Starts a server process; resolves with its URL once its ready line is out. */
async function startServer(
  args: string[],
  env: Record<string, string>,
  stream: "stdout" | "stderr",
  readUrl: (line: string) => string | undefined,
) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env,
    stdout: stream === "stdout" ? "piped" : "null",
    stderr: stream === "stderr" ? "piped" : "inherit",
  }).spawn();
  // The URL comes from the ready line; the rest is drained so the pipe never fills. Raw bytes,
  // decoded only until the ready line: the client shares the CPU with the servers, and
  // decoding a log line per alert here cost it ~40 µs per alert.
  const reader = child[stream]!.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let found: string | undefined;
  while (!found) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`${args.join(" ")} exited before it was ready`);
    buffered += decoder.decode(value, { stream: true });
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) found ??= readUrl(line);
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return { child, url: found, drain };
}

const t = await testDb();
await t.db.query("insert into strategies (name) values ('bench')");
const root = new URL("../", import.meta.url).pathname;
const serve = await startServer(
  [
    "run",
    "-A",
    "--unstable-cron",
    ...values["serve-flags"].split(" ").filter(Boolean),
    `${root}main.ts`,
    "serve",
  ],
  {
    DATABASE_URL: t.url!,
    HTTP_PORT: "0",
    PINE_WEBHOOK_TOKEN: TOKEN,
    LOG_LEVEL: values["log-level"],
    LOG_FORMAT: "json",
  },
  "stderr",
  (line) => line.includes("Ready on") ? JSON.parse(line).properties.url : undefined,
);
const baseline = await startServer(
  ["run", "-A", `${root}bench/webhook_baseline.ts`, t.url!, TOKEN],
  {},
  "stdout",
  (line) => line.startsWith("{") ? JSON.parse(line).url : undefined,
);

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
  const body = benchAlertBody(n, TOKEN);
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

interface Round {
  alertsPerS: number;
  p50: number;
  p99: number;
  max: number;
  serverCpuUs: number;
  clientCpuUs: number;
  pgCpuUs: number;
  sessionCpuUs: number;
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * The CPU seconds so far of the target's own PostgreSQL sessions, by pid (serve's pool is
 * "pg-solo-lite", the baseline's "postgres.js"): unlike postgresCpuS, it leaves out the
 * server's other work (other databases on a shared machine, background processes).
 */
async function sessionCpu(name: "serve" | "baseline"): Promise<Map<number, number>> {
  const rows = await t.db.query<{ pid: number }>(
    `select pid from pg_stat_activity where datname = current_database()
        and application_name ${name === "serve" ? "like 'pg-solo-lite%'" : "= 'postgres.js'"}`,
  );
  return new Map(rows.map((r) => [r.pid, cpuS(r.pid)]));
}

/** CPU seconds of the sessions since `before` (a session opened since counts from zero). */
function sessionDelta(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, s] of after) if (Number.isFinite(s)) total += s - (before.get(pid) ?? 0);
  return total;
}

async function measure(
  name: "serve" | "baseline",
  target: { url: string; child: Deno.ChildProcess },
): Promise<Round> {
  url = target.url;
  const sessions0 = await sessionCpu(name);
  const cpu0 = { server: cpuS(target.child.pid), client: cpuS("self"), pg: postgresCpuS() };
  const m = CLIENTS > 1 ? await runClients(ALERTS) : { ...(await run(ALERTS)), clientCpuS: NaN };
  const cpu1 = { server: cpuS(target.child.pid), client: cpuS("self"), pg: postgresCpuS() };
  const sessions1 = await sessionCpu(name);
  const per = (s: number) => Math.round(s / m.latencies.length * 1e6);
  const lat = m.latencies.sort((a, b) => a - b);
  return {
    alertsPerS: Math.round(lat.length / (m.wallMs / 1000)),
    p50: +pct(lat, 0.5).toFixed(2),
    p99: +pct(lat, 0.99).toFixed(2),
    max: +lat[lat.length - 1].toFixed(2),
    serverCpuUs: per(cpu1.server - cpu0.server),
    clientCpuUs: per(CLIENTS > 1 ? m.clientCpuS : cpu1.client - cpu0.client),
    pgCpuUs: per(cpu1.pg - cpu0.pg),
    sessionCpuUs: per(sessionDelta(sessions0, sessions1)),
  };
}

try {
  const rounds: { serve: Round[]; baseline: Round[] } = { serve: [], baseline: [] };
  for (const target of [baseline, serve]) {
    url = target.url;
    await run(WARMUP);
  }
  const load0 = loadAverage1m();
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ["baseline", "serve"] as const : ["serve", "baseline"] as const;
    for (const name of order) {
      rounds[name].push(await measure(name, name === "serve" ? serve : baseline));
    }
  }
  const [stored] = await t.db.query<{ n: number }>(
    "select count(*)::int8 as n from inbound_alerts",
  );
  const [storedBase] = await t.db.query<{ n: number }>(
    "select count(*)::int8 as n from bench_baseline_alerts",
  );
  const expected = ALERTS * ROUNDS + WARMUP;
  const agg = (rs: Round[]) => ({
    alerts_per_s: median(rs.map((x) => x.alertsPerS)),
    p50_ms: median(rs.map((x) => x.p50)),
    p99_ms: median(rs.map((x) => x.p99)),
    max_ms: Math.max(...rs.map((x) => x.max)),
    server_cpu_us_per_alert: median(rs.map((x) => x.serverCpuUs)),
    client_cpu_us_per_alert: median(rs.map((x) => x.clientCpuUs)),
    postgres_cpu_us_per_alert: median(rs.map((x) => x.pgCpuUs)),
    sessions_cpu_us_per_alert: median(rs.map((x) => x.sessionCpuUs)),
  });
  const s = agg(rounds.serve), b = agg(rounds.baseline);
  const ratio = (x: number, y: number) => +(x / y).toFixed(2);
  console.log(
    "round target      alerts/s   p50 ms   p99 ms   max ms   CPU µs/alert: server sessions",
  );
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of ["baseline", "serve"] as const) {
      const x = rounds[name][r];
      console.log(
        `${String(r + 1).padStart(5)} ${name.padEnd(10)} ${String(x.alertsPerS).padStart(9)} ${
          x.p50.toFixed(2).padStart(8)
        } ${x.p99.toFixed(2).padStart(8)} ${x.max.toFixed(2).padStart(8)} ${
          String(x.serverCpuUs).padStart(21)
        } ${String(x.sessionCpuUs).padStart(8)}`,
      );
    }
  }
  console.log(
    `median: serve ${s.alerts_per_s}/s p99 ${s.p99_ms} ms; baseline ${b.alerts_per_s}/s p99 ` +
      `${b.p99_ms} ms → throughput ${ratio(s.alerts_per_s, b.alerts_per_s)}× (target ≥ 0.8), ` +
      `p99 ${ratio(s.p99_ms, b.p99_ms)}× (target ≤ 1.3)`,
  );
  console.log(
    `stored: serve ${stored.n} of ${expected}, baseline ${storedBase.n} of ${expected}; ` +
      `load average ${load0} → ${loadAverage1m()}`,
  );
  console.log(JSON.stringify({
    bench: "webhook",
    alerts_per_round: ALERTS,
    rounds: ROUNDS,
    concurrency: CONCURRENCY,
    clients: CLIENTS,
    log_level: values["log-level"],
    serve: { ...s, rounds: rounds.serve },
    baseline: { ...b, rounds: rounds.baseline },
    throughput_ratio: ratio(s.alerts_per_s, b.alerts_per_s),
    p99_ratio: ratio(s.p99_ms, b.p99_ms),
    stored_serve: stored.n,
    stored_baseline: storedBase.n,
    expected_stored: expected,
    load_average_1m: [load0, loadAverage1m()],
  }));
  if (stored.n !== expected || storedBase.n !== expected) {
    throw new Error("Not every acknowledged alert is stored");
  }
} finally {
  for (const p of [serve, baseline]) {
    p.child.kill("SIGTERM");
    await p.child.status;
    await p.drain.catch(() => {});
  }
  await t.close();
}
