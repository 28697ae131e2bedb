/**
 * The Execution agent: RECEIVED alerts → at most one exchange order each. It claims alerts
 * with FOR UPDATE SKIP LOCKED and runs each through process.ts: plan (pure, plan.ts), record
 * the order with its deterministic client order id BEFORE calling the exchange, apply the
 * answer. A lost answer leaves the order UNKNOWN for the reconciler (reconcile.ts); nothing is
 * ever resent.
 */
import type { Config } from "../core/config.ts";
import type { Clock } from "../core/clock.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import { redactText } from "../core/redact.ts";
import type { Db } from "../db/mod.ts";
import { PAPER_ACCOUNT } from "./paper_broker.ts";
import type { Exchange } from "../exchange/mod.ts";
import { alerts } from "../signals/mod.ts";
import { createApplyQueue } from "./apply_queue.ts";
import { createReconciler, type ReconcileTuning } from "./reconcile.ts";
import type { PassCache } from "./store.ts";
import { afterFailure, type AlertContext, createFailureCounter, processAlert } from "./process.ts";

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

  const ctx: AlertContext = {
    ...deps,
    inFlight,
    applyAnswer,
    pauseEntries,
    entriesPaused,
  };
  const failures = createFailureCounter();
  /**
   * Alerts of passes that failed, to hand back if they were left PROCESSING unsent (their own
   * release may have failed with the database); tried before each pass until it works.
   */
  const stranded = new Set<number>();
  const releaseStranded = async () => {
    if (stranded.size === 0) return;
    const ids = [...stranded];
    const n = await alerts.releaseStranded(db, ids);
    for (const id of ids) stranded.delete(id);
    if (n > 0) log.info("{n} alert(s) left by a failed pass are received again", { n });
  };

  /** Claims up to one batch of RECEIVED alerts and executes them; resolves when all are done. */
  async function runOnce(): Promise<RunSummary> {
    // The exchange asked us to wait (429) or is under maintenance: nothing new is sent until
    // the pause ends; the alerts stay RECEIVED and the service keeps serving.
    await releaseStranded();
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
          summary[await processAlert(ctx, alert, cache)]++;
        } catch (error) {
          stranded.add(alert.id);
          const outcome = await afterFailure(ctx, failures, alert.id, error);
          if (outcome === "deferred") firstError ??= error;
          summary[outcome]++;
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
