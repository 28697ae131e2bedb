/**
 * Reports inside `serve`: `GET /reports/:id` (always, so links keep working), and with
 * REPORTS_ENABLED the schedule — every minute it looks for closed daily and weekly periods of
 * this service's scope that have no snapshot yet (at start too, so a run missed while the
 * service was down is caught up), builds them, and announces each new one at INFO with its
 * headline numbers and its link. Once accounts other than the default one exist, each account
 * with ledger activity gets its own reports too (scope: its name), announced to its own chats
 * (and the operator's).
 */
import { errorMessage } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { startLoop } from "../core/loop.ts";
import type { Db, Sql } from "../db/mod.ts";
import { type Account, DEFAULT_ACCOUNT_ID, ledgerBook, listAccounts } from "../execution/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import type { Component, Route, ServiceContext } from "../runtime/mod.ts";
import { closedPeriodsBetween, isoDay, periodOf, type ReportKind } from "./period.ts";
import {
  buildReport,
  endPriceGaps,
  firstActivity,
  reportPage,
  type ReportScope,
  scopeName,
  type StoredReport,
} from "./store.ts";

export const REPORT_HEADERS = {
  "cache-control": "private, no-store",
  "referrer-policy": "no-referrer",
  "x-robots-tag": "noindex",
  "x-content-type-options": "nosniff",
};

/** The scope `serve` reports on: its exchange and the ledger account of its mode. */
export function serviceScope(config: ServiceContext["config"]): ReportScope {
  return {
    exchangeId: config.exchange.id,
    account: config.exchange.mode === "paper" ? "paper" : "main",
    quote: config.symbols[0]?.split("/")[1] ?? "USDT",
  };
}

/**
 * The scope of one trading account: its own orders, fills and ledger legs only. The default
 * account trades on the exchange and in the mode of the environment (EXCHANGE_ID, EXCHANGE_MODE).
 */
export function accountScope(
  config: ServiceContext["config"],
  account: Pick<Account, "id" | "name" | "exchangeId" | "mode">,
): ReportScope {
  const own = account.id === DEFAULT_ACCOUNT_ID ? serviceScope(config) : {
    ...serviceScope(config),
    exchangeId: account.exchangeId,
    account: ledgerBook(account.mode),
  };
  return { ...own, accountId: account.id, name: account.name };
}

/** The per-account scopes the schedule builds: none while the default account is the only one. */
export async function accountScopes(
  sql: Sql,
  config: ServiceContext["config"],
): Promise<ReportScope[]> {
  const accounts = await listAccounts(sql);
  return accounts.length > 1 ? accounts.map((a) => accountScope(config, a)) : [];
}

/**
 * GET /reports/:id. An unknown id and a malformed one get the same 404 after the same lookup,
 * so the answer tells nothing about which ids exist.
 */
export function reportRoute(db: Db): Route {
  const notFound = () =>
    new Response("Not found\n", {
      status: 404,
      headers: { "content-type": "text/plain; charset=utf-8", ...REPORT_HEADERS },
    });
  return {
    method: "GET",
    path: "/reports/:id",
    handler: async (_req, { params }) => {
      const html = await reportPage(db, (params.id ?? "").slice(0, 128));
      if (html === undefined) return notFound();
      return new Response(html, {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
          ...REPORT_HEADERS,
        },
      });
    },
  };
}

/** Where a report is read: its page under PUBLIC_BASE_URL, else the command that prints it. */
export const reportLink = (id: string, publicBaseUrl?: string) =>
  publicBaseUrl ? `${publicBaseUrl}/reports/${id}` : `pg-solo-lite report show ${id}`;

/** The Telegram text of a new report. */
export function announcement(r: StoredReport, publicBaseUrl?: string): string {
  const m = r.snapshot.metrics;
  const q = r.snapshot.quote;
  const f = (n: number | null, unit = "") => n === null ? "–" : `${n.toFixed(2)}${unit}`;
  const period = r.kind === "daily" ? isoDay(r.periodStart) : `week of ${isoDay(r.periodStart)}`;
  const lacked = r.snapshot.lackedPrices?.length
    ? ` No price at its end for ${
      r.snapshot.lackedPrices.map((l) => l.symbol).join(", ")
    }: valued at the latest one before.`
    : "";
  return `${r.kind === "daily" ? "Daily" : "Weekly"} report ${period} (${r.scope}): equity ` +
    `${f(m.endEquity)} ${q}${m.returnPct === null ? "" : ` (${f(m.returnPct, " %")})`}, ` +
    `realized PnL ${f(m.realizedPnl)} ${q}, ${m.trades} trade(s), win rate ` +
    `${f(m.winRatePct, " %")}, fees ${f(m.fees)} ${q}, max drawdown ${f(m.maxDrawdownPct, " %")}.` +
    `${lacked}\n${reportLink(r.id, publicBaseUrl)}`;
}

/**
 * Builds every closed period still missing its snapshot; returns the new ones. A report of one
 * account is announced to that account's chats as well as the operator's. A period whose end
 * a held symbol's candles have not reached yet (ingestion filling the gap of a downtime) waits
 * for a later pass, up to limits.reportPriceWaitMs from the first pass that found it waiting
 * (kept in `waits`), and is then built naming the prices it lacked: stored for good, a report
 * is built from the prices of its own period when they come.
 */
export async function catchUp(
  db: Db,
  o: {
    scope: ReportScope;
    now: Date;
    publicBaseUrl?: string;
    /** When each period first waited for its prices (ms), kept from pass to pass. */
    waits?: Map<string, number>;
  },
): Promise<StoredReport[]> {
  const waits = o.waits ?? new Map<string, number>();
  const since = await firstActivity(db, o.scope);
  if (!since) return [];
  const made: StoredReport[] = [];
  for (const kind of ["daily", "weekly"] as ReportKind[]) {
    const first = periodOf(kind, since);
    const periods = [first, ...closedPeriodsBetween(kind, first.start, o.now)]
      .filter((p) => p.end.getTime() <= o.now.getTime())
      .slice(-limits.reportCatchUpMax[kind]);
    const have = new Set(
      (await db.query<{ start: Date }>(
        `select period_start as start from reports
          where scope = $1 and kind = $2 and not partial and period_start >= $3`,
        [scopeName(o.scope), kind, periods[0]?.start ?? o.now],
      )).map((r) => new Date(r.start).getTime()),
    );
    for (const p of periods) {
      if (have.has(p.start.getTime())) continue;
      const waitKey = `${scopeName(o.scope)}:${kind}:${p.start.toISOString()}`;
      const gaps = await endPriceGaps(db, o.scope, p);
      if (gaps.some((g) => g.waiting)) {
        const since = waits.get(waitKey) ?? o.now.getTime();
        // Never cleared wholesale: a wait is dropped once its period is built, at most
        // reportPriceWaitMs after it began, so the map holds only the periods waiting now.
        if (!waits.has(waitKey)) waits.set(waitKey, since);
        if (o.now.getTime() - since < limits.reportPriceWaitMs) continue;
      }
      waits.delete(waitKey);
      const { report, created } = await buildReport(db, {
        kind,
        at: p.start,
        scope: o.scope,
        now: o.now,
      });
      if (!created) continue;
      made.push(report);
      await enqueueNotification(db, {
        severity: "INFO",
        kind: NotificationKind.report,
        text: announcement(report, o.publicBaseUrl),
        dedupeKey: `report:${report.scope}:${kind}:${p.start.toISOString()}`,
        accountId: o.scope.accountId,
      });
    }
  }
  return made;
}

export function reportComponent(ctx: ServiceContext): Promise<Component> {
  const { db, config, clock, signal } = ctx;
  const log = ctx.log.with?.({ component: "report" }) ?? ctx.log;
  const scope = serviceScope(config);
  const waits = new Map<string, number>();
  let stopped: Promise<void> | undefined;
  return Promise.resolve({
    name: "report",
    routes: [reportRoute(db)],
    start() {
      if (!config.reports.enabled) return Promise.resolve();
      stopped = startLoop({
        name: "report",
        intervalMs: limits.reportCheckMs,
        maxBackoffMs: limits.backoffMaxMs,
        signal,
        clock,
        log,
        run: async () => {
          const made: StoredReport[] = [];
          for (const s of [scope, ...await accountScopes(db, config)]) {
            made.push(
              ...await catchUp(db, {
                scope: s,
                now: clock.now(),
                publicBaseUrl: config.reports.publicBaseUrl,
                waits,
              }),
            );
          }
          for (const r of made) {
            log.info("Report {kind} {start} of {scope} stored as {id}", {
              kind: r.kind,
              scope: r.scope,
              start: isoDay(r.periodStart),
              id: r.id,
            });
          }
        },
        onError: (error) =>
          void log.warn("Building reports failed: {error}", { error: errorMessage(error) }),
      }).stopped;
      return Promise.resolve();
    },
    async stop() {
      await stopped;
    },
    describe: () =>
      `GET /reports/:id; ${
        config.reports.enabled
          ? `daily and weekly reports of ${
            scopeName(scope)
          } (and of each account, once there are several) built after each period closes`
          : "no scheduled reports (REPORTS_ENABLED=false)"
      }`,
  });
}
