/**
 * The Execution agent: RECEIVED alerts → at most one exchange order each. It claims alerts
 * with FOR UPDATE SKIP LOCKED, plans the order (pure, execution_plan.ts), records it with its
 * deterministic client order id BEFORE calling the exchange, then applies the answer. A lost
 * answer leaves the order UNKNOWN for the reconciler (reconcile.ts); nothing is ever resent.
 */
import type { Config } from "../core/config.ts";
import type { Clock } from "../core/clock.ts";
import { errorMessage, nextStep } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import { redactText } from "../core/redact.ts";
import type { Db } from "../db/mod.ts";
import { numberToDecimal } from "../trading/decimal.ts";
import { PAPER_ACCOUNT } from "./paper_broker.ts";
import type { Exchange } from "../exchange/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { alerts, type ClaimedAlert } from "../signals/mod.ts";
import { type OrderPlan, parseDecision, planOrder, staleEntry } from "./plan.ts";
import { type OrderRow, rejectOrder } from "./order_updates.ts";
import { createApplyQueue } from "./apply_queue.ts";
import { createReconciler, type ReconcileTuning } from "./reconcile.ts";
import { cached, insertOrder, loadSnapshot, type PassCache } from "./store.ts";
import { countsAsFailure, createFailure, pauseOf } from "./outcome.ts";
import * as orders from "./orders_sql.ts";

export interface ExecutionDeps {
  db: Db;
  exchange: Exchange;
  clock: Clock;
  log: Log;
  config: Pick<Config, "risk" | "strategy">;
  tuning?: Partial<ReconcileTuning & { batchSize: number; concurrency: number }>;
}

export interface RunSummary {
  claimed: number;
  executed: number;
  rejected: number;
  duplicate: number;
  unknown: number;
  deferred: number;
}

type Outcome = keyof Omit<RunSummary, "claimed">;

type Claimed = ClaimedAlert;

export function createExecutionAgent(deps: ExecutionDeps) {
  const { db, exchange, clock, log } = deps;
  const account = exchange.mode === "paper" ? PAPER_ACCOUNT : "main";
  const batchSize = deps.tuning?.batchSize ?? limits.executionBatchSize;
  const concurrency = deps.tuning?.concurrency ?? limits.executionConcurrency;
  /** Client order ids whose create call is in flight in this process: not reconciled yet. */
  const inFlight = new Set<string>();
  let entriesPausedUntil = 0;
  const reconciler = createReconciler({ ...deps, account, inFlight });
  const applyAnswer = createApplyQueue(db, account);

  const pauseEntries = (ms: number, why: string) => {
    entriesPausedUntil = Math.max(entriesPausedUntil, clock.now().getTime() + ms);
    log.warn("New entries paused for {ms} ms: {why}", { ms, why: redactText(why) });
  };
  const entriesPaused = () => clock.now().getTime() < entriesPausedUntil;

  const releaseAlert = (id: number) => alerts.releaseAlert(db, id);

  const refuse = async (
    alertId: number,
    key: string,
    reason: string,
    options: { quiet?: boolean } = {},
  ): Promise<Outcome> => {
    await db.transaction(async (tx) => {
      await alerts.rejectAlert(tx, alertId, reason);
      if (options.quiet) return;
      await enqueueNotification(tx, {
        severity: "WARN",
        kind: NotificationKind.decisionRejected,
        text: `Signal ${key} not traded: ${reason}`,
        dedupeKey: `alert:${alertId}:rejected`,
      });
    });
    if (options.quiet) log.info("Alert {alertId} not traded: {reason}", { alertId, reason });
    else log.warn("Alert {alertId} not traded: {reason}", { alertId, reason });
    return "rejected";
  };

  async function send(alertId: number, row: OrderRow, plan: OrderPlan): Promise<Outcome> {
    inFlight.add(row.client_order_id);
    try {
      const answer = await exchange.createOrder({
        symbol: row.symbol,
        side: plan.side,
        type: plan.type,
        qty: row.qty,
        price: plan.price,
        clientOrderId: row.client_order_id,
      });
      await applyAnswer(row, answer);
      return "executed";
    } catch (error) {
      const failure = createFailure(error);
      if (failure.kind === "rejected") {
        await db.transaction(async (tx) => {
          await rejectOrder(tx, row, errorMessage(error));
          if (failure.recheck) await orders.markForRecheck(tx, row.id);
        });
        return "rejected";
      }
      if (failure.kind === "deferred") {
        pauseEntries(failure.pauseMs, errorMessage(error));
        await db.transaction(async (tx) => {
          await orders.markNotAccepted(tx, row.id, errorMessage(error));
          await alerts.releaseAlert(tx, alertId);
        });
        return "deferred";
      }
      // failure.kind === "unknown": the order may exist; evidence decides.
      await orders.markUnknown(db, row.id, errorMessage(error));
      log.warn("Order {cid} outcome unknown, to be reconciled: {error}", {
        cid: row.client_order_id,
        error: errorMessage(error),
      });
      return "unknown";
    } finally {
      inFlight.delete(row.client_order_id);
    }
  }

  async function processAlert(alert: Claimed, cache: PassCache): Promise<Outcome> {
    const parsed = parseDecision(alert.decision);
    if (!parsed.ok) return await refuse(alert.id, `alert ${alert.id}`, parsed.reason);
    const d = parsed.decision;
    const stale = staleEntry(
      { source: alert.source, receivedAt: alert.received_at, decision: d },
      clock.now(),
      deps.config.risk.signalMaxAgeS ?? 0,
    );
    if (stale) return await refuse(alert.id, d.idempotencyKey, stale);
    if (entriesPaused()) {
      await releaseAlert(alert.id);
      return "deferred";
    }
    const snap = await loadSnapshot(db, exchange.id, d, cache, {
      riskPct: deps.config.risk.perTradePct,
      stopPct: deps.config.strategy.stopPct,
    });
    if (!snap.instrument) {
      return await refuse(
        alert.id,
        d.idempotencyKey,
        `${d.symbol} is not an active market on ${exchange.id}; check the symbol or sync markets`,
      );
    }
    let refPrice: string, freeQuote: number, equityQuote: number;
    try {
      const [ticker, balances] = await Promise.all([
        cached(cache, `ticker:${d.symbol}`, () => exchange.fetchTicker(d.symbol)),
        cached(cache, "balance", () => exchange.fetchBalance()),
      ]);
      refPrice = numberToDecimal(ticker.last);
      freeQuote = Number(balances[snap.instrument.quote]?.free ?? 0);
      const baseTotal = Number(balances[snap.instrument.base]?.total ?? 0);
      equityQuote = Number(balances[snap.instrument.quote]?.total ?? 0) + baseTotal * ticker.last;
    } catch (error) {
      await releaseAlert(alert.id);
      const wait = pauseOf(nextStep(error));
      if (wait !== undefined) pauseEntries(wait, errorMessage(error));
      throw error;
    }
    const planned = planOrder({
      decision: d,
      rules: snap.instrument.rules,
      quote: snap.instrument.quote,
      refPrice,
      equityQuote,
      freeQuote,
      strategy: snap.strategy,
      positionQty: snap.positionQty,
      sellingQty: snap.sellingQty,
    });
    if (!planned.ok) {
      // The built-in strategy emits an exit on every downward cross, with or without a
      // position; a flat account is the normal case there, not something to alert about.
      const flatExit = alert.source === "strategy" && d.action === "sell" &&
        !(Number(snap.positionQty ?? "0") > 0);
      return await refuse(alert.id, d.idempotencyKey, planned.reason, { quiet: flatExit });
    }
    const recorded = await insertOrder(db, exchange.id, alert.id, d, planned.plan, alert.decision);
    if ("duplicate" in recorded) {
      await alerts.finishAlert(db, alert.id, "DUPLICATE", recorded.duplicate);
      return "duplicate";
    }
    if ("invalid" in recorded) return await refuse(alert.id, d.idempotencyKey, recorded.invalid);
    return await send(alert.id, recorded.row, planned.plan);
  }

  /**
   * Consecutive failures per alert of errors that waiting does not cure (a bug, bad data);
   * temporary conditions (network, rate limits, maintenance, database) never count.
   */
  const failuresByAlert = new Map<number, number>();
  const countFailure = (alertId: number, error: unknown): number => {
    if (!countsAsFailure(nextStep(error))) return 0;
    const n = (failuresByAlert.get(alertId) ?? 0) + 1;
    // Bounded: a map entry per alert that failed, cleared when it is set aside.
    if (failuresByAlert.size >= limits.executionBatchSize * 100) failuresByAlert.clear();
    failuresByAlert.set(alertId, n);
    return n;
  };
  /** Sets the alert aside; false when it was not PROCESSING any more (nothing changed). */
  const giveUp = async (alertId: number, failures: number, error: unknown): Promise<boolean> => {
    const reason = `Not executed after ${failures} failed attempts: ${errorMessage(error)}`;
    const changed = await db.transaction(async (tx) => {
      if (!await alerts.failUnlessSent(tx, alertId, reason)) return false;
      await enqueueNotification(tx, {
        severity: "WARN",
        kind: NotificationKind.decisionFailed,
        text: `Signal (alert ${alertId}) was not traded: ${
          redactText(reason)
        }; send it again once the cause is fixed`,
        dedupeKey: `alert:${alertId}:failed`,
      });
      return true;
    });
    if (!changed) return false;
    failuresByAlert.delete(alertId);
    log.error("Alert {alertId} set aside: {reason}", { alertId, reason });
    return true;
  };

  /** Claims up to one batch of RECEIVED alerts and executes them; resolves when all are done. */
  async function runOnce(): Promise<RunSummary> {
    // The exchange asked us to wait (429) or is under maintenance: nothing new is sent until
    // the pause ends; the alerts stay RECEIVED and the service keeps serving.
    const claimed = entriesPaused() ? [] : await alerts.claimReceived(db, batchSize);
    const summary: RunSummary = {
      claimed: claimed.length,
      executed: 0,
      rejected: 0,
      duplicate: 0,
      unknown: 0,
      deferred: 0,
    };
    let next = 0;
    let firstError: unknown;
    const cache: PassCache = new Map();
    const worker = async () => {
      while (next < claimed.length) {
        const alert = claimed[next++];
        try {
          summary[await processAlert(alert, cache)]++;
        } catch (error) {
          const failures = countFailure(alert.id, error);
          // The same alert keeps failing for a reason that waiting will not fix: set it
          // aside (FAILED, WARN) instead of holding every other alert behind the backoff.
          if (
            failures >= limits.executionAlertMaxFailures &&
            await giveUp(alert.id, failures, error).catch(() => false)
          ) {
            summary.rejected++;
            continue;
          }
          firstError ??= error;
          summary.deferred++;
          // Not sent: back to RECEIVED for the next pass. An order refused before reaching the
          // book (429, maintenance: REJECTED, nothing filled) does not count as sent.
          await alerts.releaseUnlessSent(db, alert.id).catch(() => {});
          log.warn("Alert {alertId} deferred: {error}", {
            alertId: alert.id,
            error: errorMessage(error),
          });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, claimed.length) }, worker));
    // A failure lets the loop back off; the deferred alerts are RECEIVED again.
    if (firstError) throw firstError;
    return summary;
  }

  /**
   * After a restart: alerts left PROCESSING without an order (or only with orders refused
   * before reaching the book and never filled) were never sent, so they are RECEIVED again;
   * those with an order wait for the reconciler to settle the order.
   */
  function recover(): Promise<number> {
    return alerts.recoverUnsent(db);
  }

  return {
    runOnce,
    recover,
    reconcileOnce: reconciler.reconcileOnce,
    entriesPaused,
    pauseEntries,
  };
}

export type ExecutionAgent = ReturnType<typeof createExecutionAgent>;
