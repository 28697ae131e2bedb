import { RuntimeError, UsageError } from "../core/errors.ts";
import { requireAccount } from "../execution/mod.ts";
import {
  accountScope,
  buildReport,
  listReports,
  parseDay,
  reportById,
  type ReportKind,
  reportLink,
  serviceScope,
  type StoredReport,
} from "../report/mod.ts";
import { type Command, configure, type Io, parse, table, withDb } from "./common.ts";

const HELP = `Usage:
  pg-solo-lite report daily|weekly [--date YYYY-MM-DD] [--account NAME] [--json]
  pg-solo-lite report list [--limit N] [--account NAME] [--json]
  pg-solo-lite report show <id> [--json]

daily / weekly: the performance snapshot of the UTC day (or the Monday-to-Sunday week) that
contains --date (default: today, so far). A closed period's snapshot is stored once and shown as
stored ever after; a period still running is built anew and stored marked partial. Prints the
summary and the report's link (PUBLIC_BASE_URL/reports/<id>, served by \`serve\`).
list: the newest reports. show: one report's summary by id.

The numbers are those of this service's exchange and ledger book (EXCHANGE_ID, and the paper
ledger in paper mode), summed over every account that books there (scope "binance:paper").
With --account NAME they are that account's alone: its own orders, fills and ledger legs, on
its own exchange and book, stored with the account's name as scope; list --account shows only
those. See docs/reports.md for how equity, trades and drawdown are counted.

Examples:
  pg-solo-lite report daily --date 2026-11-30
  pg-solo-lite report weekly --json
  pg-solo-lite report daily --account alice
  pg-solo-lite report list`;

const command: Command = {
  name: "report",
  help: HELP,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === "daily" || sub === "weekly") return await build(sub, rest, io);
    if (sub === "list") return await list(rest, io);
    if (sub === "show") return await show(rest, io);
    throw new UsageError(
      `Unknown report command "${
        sub ?? ""
      }"; use daily, weekly, list or show (see: pg-solo-lite report --help)`,
    );
  },
};
export default command;

async function build(kind: ReportKind, args: string[], io: Io) {
  const { values } = parse("report", args, {
    date: { type: "string" },
    account: { type: "string" },
    json: { type: "boolean" },
  }, { max: 0 });
  const now = new Date();
  const at = values.date === undefined ? now : parseDay(values.date);
  if (!at) {
    throw new UsageError(`--date "${values.date}" is not a day; use YYYY-MM-DD, e.g. 2026-11-30`);
  }
  if (at.getTime() > now.getTime()) {
    throw new UsageError(`--date ${values.date} is in the future; give a day up to today`);
  }
  const config = configure(io, { logLevel: "error" });
  const { report, created } = await withDb(config, async (db) => {
    const scope = values.account === undefined
      ? serviceScope(config)
      : accountScope(config, await requireAccount(db, values.account));
    return await buildReport(db, { kind, at, scope, now });
  });
  print(io, report, config.reports.publicBaseUrl, values.json, created);
}

async function list(args: string[], io: Io) {
  const { values } = parse("report", args, {
    limit: { type: "string", default: "20" },
    account: { type: "string" },
    json: { type: "boolean" },
  }, { max: 0 });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new UsageError(`--limit "${values.limit}" must be a whole number from 1 to 1000`);
  }
  const config = configure(io, { logLevel: "error" });
  const rows = await withDb(config, async (db) => {
    const account = values.account === undefined
      ? undefined
      : await requireAccount(db, values.account);
    return await listReports(db, limit, account?.name);
  });
  if (values.json) return io.out(JSON.stringify(rows.map(summaryOf)));
  io.out(table(rows.map((r) => {
    const m = r.snapshot.metrics;
    return {
      id: r.id,
      kind: r.kind,
      period: r.periodStart.toISOString().slice(0, 10),
      partial: r.partial ? "yes" : "",
      scope: r.scope,
      equity: m.endEquity,
      return_pct: m.returnPct ?? "",
      pnl: m.realizedPnl,
      trades: m.trades,
    };
  })));
}

async function show(args: string[], io: Io) {
  const { values, positionals } = parse("report", args, { json: { type: "boolean" } }, {
    min: 1,
    max: 1,
  });
  const config = configure(io, { logLevel: "error" });
  const report = await withDb(config, (db) => reportById(db, positionals[0]));
  if (!report) {
    throw new RuntimeError(
      `No report "${positionals[0]}"; list them with: pg-solo-lite report list`,
    );
  }
  print(io, report, config.reports.publicBaseUrl, values.json);
}

const summaryOf = (r: StoredReport) => ({
  id: r.id,
  kind: r.kind,
  scope: r.scope,
  period_start: r.periodStart.toISOString(),
  period_end: r.periodEnd.toISOString(),
  partial: r.partial,
  created_at: r.createdAt.toISOString(),
  ...r.snapshot,
});

function print(io: Io, r: StoredReport, baseUrl?: string, json?: boolean, created?: boolean) {
  if (json) return io.out(JSON.stringify({ ...summaryOf(r), link: reportLink(r.id, baseUrl) }));
  const m = r.snapshot.metrics;
  const q = r.snapshot.quote;
  const f = (n: number | null, unit = ` ${q}`) => n === null ? "–" : `${n.toFixed(2)}${unit}`;
  const state = r.partial
    ? "partial (period still running)"
    : created === false
    ? "stored"
    : "closed";
  io.out(
    [
      `${r.kind === "daily" ? "Daily" : "Weekly"} report ${
        r.periodStart.toISOString().slice(0, 10)
      } ` +
      `(${r.scope}), ${state}, id ${r.id}`,
      `  equity        ${f(m.startEquity)} → ${f(m.endEquity)}  return ${f(m.returnPct, " %")}`,
      `  realized PnL  ${f(m.realizedPnl)}  fees ${f(m.fees)}`,
      `  trades        ${m.trades} (${m.wins} won, ${m.losses} lost)  win rate ${
        f(m.winRatePct, " %")
      }`,
      `  avg win/loss  ${f(m.avgWin)} / ${f(m.avgLoss)}  profit factor ${f(m.profitFactor, "")}`,
      `  max drawdown  ${f(m.maxDrawdown)} (${f(m.maxDrawdownPct, " %")})  exposure ${
        f(m.exposurePct, " %")
      }`,
      `  link          ${reportLink(r.id, baseUrl)}`,
    ].join("\n"),
  );
}
