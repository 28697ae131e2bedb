/**
 * What the intake's write costs PostgreSQL per alert, from the CPU time of its own backend
 * (/proc, Linux): record_inbound_decisions (signals/record_batch.ts) with batches of 1, 2, 4
 * and 8 alerts, and the bare durable baseline's single INSERT (bench/webhook_baseline.ts) for
 * scale: the figures behind the grouped writer's policy (limits.intakeWriteJoinMin). One connection, one write at
 * a time, so every figure is the statement's own work plus its commit.
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test deno run -A bench/intake_sql.ts
 *   options: --alerts N (4000 per case) --rounds N (2: the best of them is kept)
 */
import { parseArgs } from "node:util";
import { testDb } from "../tests/helpers/db.ts";
import { openServerDb } from "../db/server.ts";
import { inboundBatchJson, type InboundWrite } from "../signals/record_batch.ts";
import { readStrategyRow } from "../signals/strategies.ts";
import { cpuS } from "./proc.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    alerts: { type: "string", default: "4000" },
    rounds: { type: "string", default: "2" },
  },
});
const ALERTS = Number(values.alerts);
const ROUNDS = Math.max(1, Number(values.rounds));
if (!Deno.env.get("TEST_DATABASE_URL")) {
  console.error(
    "Set TEST_DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/test",
  );
  Deno.exit(2);
}

const t = await testDb();
await t.db.query("insert into strategies (name) values ('bench')");
const strategy = (await readStrategyRow(t.db, "bench"))!;
// One connection: its backend's CPU time is the figure.
const db = await openServerDb({ url: t.url!, poolSize: 1, applicationName: "bench-intake" });
const [{ pid }] = await db.query<{ pid: number }>("select pg_backend_pid() as pid");
await db.query(`create table bench_baseline_alerts (
  id bigserial primary key,
  idempotency_key text not null unique,
  body jsonb not null,
  received_at timestamptz not null default now()
)`);

let seq = 0;
/** One alert's write as the webhook makes it for a bench alert. */
function write(): InboundWrite {
  const n = ++seq;
  const ts = new Date().toISOString();
  const payload = {
    symbol: "BINANCE:BTCUSDT",
    side: "buy",
    strategy: "bench",
    qty: "0.001",
    price: String(50_000 + n % 100),
    ts,
    idempotency_key: `bench-${n}`,
  };
  return {
    source: "pine",
    key: `bench-${n}`,
    hash: "0".repeat(64),
    rawBody: JSON.stringify({ ...payload, auth_token: "[REDACTED]" }),
    payloadJson: JSON.stringify(payload),
    remoteAddr: "127.0.0.1",
    decisionJson: JSON.stringify({
      symbol: "BTC/USDT",
      action: "buy",
      strategy: "bench",
      qty: "0.001",
      price: payload.price,
      ts,
      idempotencyKey: `bench-${n}`,
      sl: "49000",
      tp: "52000",
    }),
    lineNo: null,
    dedupeDay: ts.slice(0, 10),
    strategy: strategy.name,
    strategyVersion: strategy.version,
    receivedAt: new Date(),
    acceptBy: new Date(Date.now() + 60_000),
  };
}

const cases: { name: string; perCall: number; call: () => Promise<unknown> }[] = [
  ...[1, 2, 4, 8].map((k) => ({
    name: `record_inbound_decisions ×${k}`,
    perCall: k,
    call: () =>
      db.query("select * from record_inbound_decisions($1)", [
        inboundBatchJson(Array.from({ length: k }, write)),
      ], { prepare: true }),
  })),
  {
    name: "baseline INSERT",
    perCall: 1,
    call: () => {
      const w = write();
      return db.query(
        `insert into bench_baseline_alerts (idempotency_key, body) values ($1, $2::jsonb)
         on conflict (idempotency_key) do nothing returning id`,
        [w.key, w.rawBody],
        { prepare: true },
      );
    },
  },
];

/** PostgreSQL CPU µs per alert and wall µs per statement of one case. */
async function measure(c: (typeof cases)[number]) {
  const calls = Math.ceil(ALERTS / c.perCall);
  for (let i = 0; i < Math.min(200, calls); i++) await c.call();
  const cpu0 = cpuS(pid);
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await c.call();
  const wallUs = (performance.now() - t0) * 1000 / calls;
  return {
    pgUsPerAlert: Math.round((cpuS(pid) - cpu0) / (calls * c.perCall) * 1e6),
    wallUsPerStatement: Math.round(wallUs),
  };
}

try {
  const results = [];
  for (const c of cases) {
    let best = { pgUsPerAlert: Infinity, wallUsPerStatement: Infinity };
    for (let r = 0; r < ROUNDS; r++) {
      const m = await measure(c);
      if (m.pgUsPerAlert < best.pgUsPerAlert) best = m;
    }
    results.push({ case: c.name, ...best });
  }
  console.log("case                           PG µs/alert   wall µs/statement");
  for (const r of results) {
    console.log(
      `${r.case.padEnd(30)} ${String(r.pgUsPerAlert).padStart(11)} ${
        String(r.wallUsPerStatement).padStart(19)
      }`,
    );
  }
  console.log(JSON.stringify({ bench: "intake_sql", alerts_per_case: ALERTS, results }));
} finally {
  await db.close();
  await t.close();
}
