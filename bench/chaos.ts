/**
 * The fault bench (on demand only: `deno task bench chaos`; never part of the tests or of a plain
 * `deno task bench`). Every loop is bounded in count and time; everything runs on loopback.
 *
 *   kill     CHAOS_KILLS kill -9s of a real serve during a CHAOS_ALERTS-alert storm (live mode,
 *            the fake exchange): 0 acknowledged lost, 0 acknowledged fresh entries untraded,
 *            0 keys filled twice, ledger = positions = exchange
 *   pg       CHAOS_RESTARTS restarts of a throwaway PostgreSQL cluster under serve (Telegram on)
 *            while alerts are posted: no crash, seconds to recover, no 503 ever stored
 *   telegram a Bot API outage and a slow Bot API: everything delivered, nothing doubled
 *   exchange 5xx and timeouts on create: UNKNOWN → reconciled, never doubled
 *   fuzz     CHAOS_FUZZ mutated webhook bodies: 0 5xx, serve alive, RSS after
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test deno run -A bench/chaos.ts
 *   CHAOS_ONLY=kill,fuzz CHAOS_KILLS=3 deno run -A bench/chaos.ts
 */
import { envInt, type Row } from "./chaos/common.ts";
import { stormScenario } from "./chaos/storm.ts";
import { pgRestartScenario } from "./chaos/pg_restarts.ts";
import { telegramScenario } from "./chaos/telegram.ts";
import { exchangeFaultsScenario } from "./chaos/exchange_faults.ts";
import { fuzzScenario } from "./chaos/fuzz.ts";

if (!Deno.env.get("TEST_DATABASE_URL")) {
  Deno.env.set("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test");
}
const KILLS = envInt("CHAOS_KILLS", 10);
const ALERTS = envInt("CHAOS_ALERTS", 2_000);
const RESTARTS = envInt("CHAOS_RESTARTS", 20);
const FUZZ = envInt("CHAOS_FUZZ", 10_000);
const only = (Deno.env.get("CHAOS_ONLY") ?? "kill,pg,telegram,exchange,fuzz").split(",");

const scenarios: Record<string, () => Promise<Row[]>> = {
  kill: () => stormScenario(KILLS, ALERTS),
  pg: () => pgRestartScenario(RESTARTS),
  telegram: () => telegramScenario(20, 3),
  exchange: () => exchangeFaultsScenario(60),
  fuzz: () => fuzzScenario(FUZZ),
};

const rows: Row[] = [];
for (const name of only) {
  const run = scenarios[name.trim()];
  if (!run) {
    console.error(`No scenario "${name}"; available: ${Object.keys(scenarios).join(", ")}`);
    Deno.exit(2);
  }
  const started = performance.now();
  try {
    rows.push(...await run());
  } catch (error) {
    rows.push({
      scenario: name,
      metric: "ran to the end",
      value: String(error instanceof Error ? error.message : error).slice(0, 120),
      target: "yes",
      ok: false,
    });
  }
  console.error(`${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const cols = ["scenario", "metric", "value", "target", "ok"] as const;
const cell = (r: Row, c: typeof cols[number]) =>
  c === "ok" ? (r.ok === null ? "" : r.ok ? "ok" : "FAIL") : String(r[c]);
const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
const line = (cells: string[]) => cells.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
console.log(line([...cols]));
for (const r of rows) console.log(line(cols.map((c) => cell(r, c))));
const failed = rows.filter((r) => r.ok === false).length;
console.log(JSON.stringify({
  bench: "chaos",
  kills: KILLS,
  alerts: ALERTS,
  restarts: RESTARTS,
  fuzz: FUZZ,
  failed,
  rows,
}));
Deno.exit(failed === 0 ? 0 : 1);
