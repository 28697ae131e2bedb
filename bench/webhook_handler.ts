/**
 * The webhook handler's own JavaScript per alert: the Pine handler of `serve` (checks, token,
 * schema, mapping, hashing, masking, the grouped writer, the per-alert info line) called in
 * process at concurrency 10, with a database that answers at once and no HTTP. No PostgreSQL,
 * no sockets: the steadiest figure for a change to the hot path, which bench/webhook.ts
 * (whose rounds vary by a third on a shared VM) cannot resolve below ~10 µs.
 *   deno run -A bench/webhook_handler.ts [--alerts N (20000)] [--rounds N (5)]
 *     [--log-level L (info)]
 * The info lines are written to standard error as in serve; the bench runs itself again in a
 * child process whose standard error is discarded, so they cost what they cost without
 * flooding the terminal.
 */
import { parseArgs } from "node:util";
import { pineHandler } from "../signals/webhook.ts";
import { logger, type LogLevel, setupLogging } from "../core/log.ts";
import type { Db } from "../db/mod.ts";
import { BENCH_TOKEN, benchAlertBody } from "./pine_alert.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    alerts: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
    "log-level": { type: "string", default: "info" },
  },
});
if (!Deno.env.get("WEBHOOK_HANDLER_BENCH_CHILD")) {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, ...Deno.args],
    env: { WEBHOOK_HANDLER_BENCH_CHILD: "1" },
    stdout: "inherit",
    stderr: "null",
  }).output();
  Deno.exit(code);
}
const ALERTS = Number(values.alerts);
const ROUNDS = Number(values.rounds);
const TOKEN = BENCH_TOKEN;
setupLogging({ level: values["log-level"] as LogLevel, format: "json", secrets: [TOKEN] });

// The strategy row as the defaults of the strategies table give it.
const strategy = {
  name: "bench",
  enabled: true,
  symbols: null,
  risk_pct: "1",
  stop_pct: "2",
  take_profit_pct: "4",
  confidence_min: "0",
  max_notional: null,
  qty_policy: "cap",
  trail_pct: null,
  trail_activation_pct: "0",
  tp_ladder: null,
  params: {},
  version: "1",
};
let id = 0;
const queries = { batch: 0, other: 0 };
/** Answers the handler's statements at once, as PostgreSQL would for new keys. */
const query = (text: string, params: readonly unknown[] = []): Promise<unknown[]> => {
  if (text.includes("record_inbound_decisions")) {
    queries.batch++;
    const n = (JSON.parse(String(params[0])) as unknown[]).length;
    return Promise.resolve(Array.from({ length: n }, (_, i) => {
      id++;
      return { ord: i + 1, id, status: "RECEIVED", first_id: id, error: null };
    }));
  }
  queries.other++;
  if (text.includes("from strategies")) return Promise.resolve([strategy]);
  // The symbol lookup before markets are loaded: the market id is split by its quote.
  return Promise.resolve([{ symbol: null, loaded: false }]);
};
const db = {
  kind: "server",
  query,
  exec: () => Promise.resolve(),
  transaction: <T>(fn: (tx: unknown) => Promise<T>) => fn(db),
} as unknown as Db;

const handler = pineHandler({
  db,
  config: { pine: { token: TOKEN, trustProxy: false }, exchange: { id: "binance" } } as never,
  log: logger("inbound"),
});
let seq = 0;
const encoder = new TextEncoder();
function request(): Request {
  const n = ++seq;
  const body = benchAlertBody(n, TOKEN);
  return new Request("http://127.0.0.1:8080/alerts/pine", {
    method: "POST",
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(encoder.encode(body).byteLength),
    },
    body,
  });
}

/** µs per alert of one round; the requests are built before the clock starts. */
async function round(n: number): Promise<number> {
  const requests = Array.from({ length: n }, request);
  const t0 = performance.now();
  for (let i = 0; i < n; i += 10) {
    const answers = await Promise.all(
      requests.slice(i, i + 10).map((r) => handler(r, { remoteAddr: "127.0.0.1" })),
    );
    for (const a of answers) {
      if (a.status !== 202) throw new Error(`Answered ${a.status}: ${await a.text()}`);
    }
  }
  return (performance.now() - t0) * 1000 / n;
}

await round(5_000); // warm-up: JIT and caches
const rounds: number[] = [];
for (let r = 0; r < ROUNDS; r++) rounds.push(+(await round(ALERTS)).toFixed(1));
const sorted = [...rounds].sort((a, b) => a - b);
const result = {
  bench: "webhook_handler",
  log_level: values["log-level"],
  alerts_per_round: ALERTS,
  us_per_alert_rounds: rounds,
  us_per_alert_min: sorted[0],
  us_per_alert_median: sorted[Math.floor(sorted.length / 2)],
  statements: queries,
};
console.log("round  µs/alert");
rounds.forEach((x, i) => console.log(`${String(i + 1).padStart(5)}  ${x.toFixed(1).padStart(8)}`));
console.log(
  `min ${result.us_per_alert_min} µs, median ${result.us_per_alert_median} µs per alert ` +
    `(${queries.batch} statements of the grouped writer)`,
);
console.log(JSON.stringify(result));
Deno.exit(0);
