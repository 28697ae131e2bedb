/**
 * Alert → order acknowledged by the (local, fake) exchange, through the real ccxt client and a
 * real PostgreSQL. Latency: one alert at a time, from the alert row being stored to the
 * exchange's answer to createOrder. Throughput: a backlog of alerts drained by the agent.
 * Targets (SPEC §9): p50 ≤ 15 ms, ≥ 200 orders/s.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test deno run -A bench/execution.ts
 */
import { testDb } from "../tests/helpers/db.ts";
import { startFakeExchange } from "../tests/fakes/exchange.ts";
import { executionSetup, insertAlert, liveExchange } from "../tests/helpers/execution.ts";
import type { Exchange } from "../exchange/port.ts";
import { openServerDb } from "../db/server.ts";
import { limits } from "../core/limits.ts";

const LATENCY_N = Number(Deno.env.get("BENCH_LATENCY_N") ?? 500);
const THROUGHPUT_N = Number(Deno.env.get("BENCH_THROUGHPUT_N") ?? 2000);
if (!Deno.env.get("TEST_DATABASE_URL")) {
  Deno.env.set("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test");
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

const t = await testDb();
const fake = startFakeExchange({ balances: { USDT: "1000000000000" } });
const inner = await liveExchange(fake);
let ackedAt = 0;
const exchange: Exchange = {
  ...inner,
  createOrder: async (r) => {
    const o = await inner.createOrder(r);
    ackedAt = performance.now();
    return o;
  },
};
// The service's default pool (DB_POOL_SIZE), not the small pool of a test database.
const db = await openServerDb({ url: t.url!, poolSize: limits.dbPoolSize });
try {
  const agent = await executionSetup(db, exchange, {
    concurrency: Number(Deno.env.get("BENCH_CONCURRENCY") ?? limits.executionConcurrency),
  });
  // Warm-up: ccxt's first calls and the server's plans.
  for (let i = 0; i < 20; i++) {
    await insertAlert(db, { qty: "0.001", sl: "40000" });
    await agent.runOnce();
  }
  const latencies: number[] = [];
  for (let i = 0; i < LATENCY_N; i++) {
    await insertAlert(db, { qty: "0.001", sl: "40000" });
    const stored = performance.now();
    const s = await agent.runOnce();
    if (s.executed !== 1) throw new Error(`Expected one order, got ${JSON.stringify(s)}`);
    latencies.push(ackedAt - stored);
  }
  latencies.sort((a, b) => a - b);

  for (let i = 0; i < THROUGHPUT_N; i++) await insertAlert(db, { qty: "0.001", sl: "40000" });
  const before = fake.orders.length;
  const t0 = performance.now();
  let executed = 0;
  for (;;) {
    const s = await agent.runOnce();
    executed += s.executed;
    if (s.claimed === 0) break;
  }
  const elapsedS = (performance.now() - t0) / 1000;
  if (fake.orders.length - before !== THROUGHPUT_N || executed !== THROUGHPUT_N) {
    throw new Error(
      `Expected ${THROUGHPUT_N} orders, the exchange has ${fake.orders.length - before}`,
    );
  }
  const result = {
    bench: "execution",
    db: t.kind,
    latency_n: LATENCY_N,
    p50_ms: Number(pct(latencies, 0.5).toFixed(2)),
    p99_ms: Number(pct(latencies, 0.99).toFixed(2)),
    max_ms: Number(latencies.at(-1)!.toFixed(2)),
    throughput_n: THROUGHPUT_N,
    orders_per_s: Math.round(THROUGHPUT_N / elapsedS),
    targets: { p50_ms: 15, orders_per_s: 200 },
  };
  console.log("metric                     value");
  console.log(`alert→ack p50 (ms)         ${result.p50_ms}`);
  console.log(`alert→ack p99 (ms)         ${result.p99_ms}`);
  console.log(`alert→ack max (ms)         ${result.max_ms}`);
  console.log(`orders/s (${THROUGHPUT_N} backlog)     ${result.orders_per_s}`);
  console.log(JSON.stringify(result));
} finally {
  await inner.close?.();
  await db.close();
  await fake.close();
  await t.close();
}
