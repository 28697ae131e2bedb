/**
 * The outbox worker: claims due PENDING rows in batches, sends them to Telegram outside any
 * transaction within the rate limits, then records each outcome. Woken by NOTIFY 'outbox'
 * (enqueue_notification sends it), with polling as the fallback when a wake-up is lost.
 *
 * Delivery is at least once: a crash (or a restore from a backup) between a send and its SENT
 * mark leaves the row PENDING under its lease, and it is sent once more when the lease ends.
 */
import type { Clock } from "../core/clock.ts";
import { errorMessage } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import { type LoopHandle, startLoop } from "../core/loop.ts";
import { redactText } from "../core/redact.ts";
import type { Db } from "../db/mod.ts";
import { followAfterSend } from "./chat_migration.ts";
import { renderMessage } from "./format.ts";
import {
  ALERT_KINDS,
  claimDue,
  type ClaimedRow,
  markFailed,
  markRetry,
  markSent,
  reschedule,
} from "./outbox.ts";
import { decideOutcome, type Outcome, rateLimiter } from "./policy.ts";
import type { Sender } from "./telegram.ts";

export interface OutboxWorkerOptions {
  db: Db;
  sender: Sender;
  clock: Clock;
  log: Log;
  /** Messages per second per chat and overall; 0 turns a limit off. */
  perChatPerS?: number;
  globalPerS?: number;
  batchSize?: number;
  leaseMs?: number;
  concurrency?: number;
  pollMs?: number;
}

export interface BatchResult {
  claimed: number;
  sent: number;
  retried: number;
  failed: number;
  /**
   * Put back without counting a failure (429, rate limit beyond the lease, shutdown, the chat
   * followed to its new id after an upgrade to a supergroup).
   */
  deferred: number;
}

export interface OutboxWorker {
  /** Claims one batch and sends it. */
  runOnce(signal?: AbortSignal): Promise<BatchResult>;
  /** Runs batches until none is due; resolves to the totals. */
  drain(signal?: AbortSignal): Promise<BatchResult>;
  /** LISTEN and the loop; runs until `signal` aborts, then `stopped` resolves. */
  start(signal: AbortSignal): Promise<{ stopped: Promise<void> }>;
}

interface LaneResult {
  row: ClaimedRow;
  outcome?: Outcome;
  /** Put back as due at this time without counting a failure. */
  deferTo?: Date;
  error?: string;
}

// Longer than ~80 lines: one closure over the worker's loop, lanes and rate limiter; the send and record steps are module functions.
/**
 * The worker's loop: claim due rows, split them into one lane per chat, send the lanes side
 * by side (sendLane), record the outcomes (record).
 */
export function outboxWorker(o: OutboxWorkerOptions): OutboxWorker {
  const { db, sender, clock, log } = o;
  const perChatPerS = o.perChatPerS ?? 1;
  const batchSize = o.batchSize ?? limits.outboxBatchSize;
  const leaseMs = o.leaseMs ?? limits.outboxLeaseMs;
  const concurrency = o.concurrency ?? limits.outboxSendConcurrency;
  const limiter = rateLimiter(perChatPerS, o.globalPerS ?? 30);
  const lanes: Lanes = { db, sender, clock, log, limiter, leaseMs };

  async function runOnce(signal?: AbortSignal): Promise<BatchResult> {
    const now = clock.now();
    const rows = await claimDue(db, {
      now,
      leaseUntil: new Date(now.getTime() + leaseMs),
      batchSize,
      perChatMax: perChatPerS > 0
        ? Math.max(1, Math.ceil(perChatPerS * limits.outboxClaimAheadS))
        : 0,
    });
    const total: BatchResult = {
      claimed: rows.length,
      sent: 0,
      retried: 0,
      failed: 0,
      deferred: 0,
    };
    if (rows.length === 0) return total;
    // One lane per chat keeps each chat's messages in order; lanes run side by side.
    const byChat = new Map<number, ClaimedRow[]>();
    // UPDATE … RETURNING has no order: queue order (id) is restored here.
    for (const row of rows.sort((a, b) => a.id - b.id)) {
      const lane = byChat.get(row.chat_id);
      if (lane) lane.push(row);
      else byChat.set(row.chat_id, [row]);
    }
    const queue = [...byChat.values()];
    const results: LaneResult[] = [];
    await Promise.all(
      Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
        for (let lane = queue.shift(); lane; lane = queue.shift()) {
          results.push(...await sendLane(lanes, lane, signal));
        }
      }),
    );
    await record(lanes, results, total);
    return total;
  }

  async function drain(signal?: AbortSignal): Promise<BatchResult> {
    const total: BatchResult = { claimed: 0, sent: 0, retried: 0, failed: 0, deferred: 0 };
    while (!signal?.aborted) {
      const r = await runOnce(signal);
      for (const k of Object.keys(total) as (keyof BatchResult)[]) total[k] += r[k];
      if (r.claimed === 0) break;
    }
    return total;
  }

  async function start(signal: AbortSignal): Promise<{ stopped: Promise<void> }> {
    let wake: (() => void) | undefined;
    let unlisten: (() => Promise<void>) | undefined;
    try {
      unlisten = await db.listen("outbox", () => wake?.());
    } catch (error) {
      log.warn("Cannot LISTEN for outbox wake-ups ({error}); polling every {pollMs} ms", {
        error: redactText(errorMessage(error)),
        pollMs: o.pollMs ?? limits.outboxPollMs,
      });
    }
    const handle: LoopHandle = startLoop({
      name: "outbox",
      intervalMs: o.pollMs ?? limits.outboxPollMs,
      signal,
      clock,
      log,
      maxBackoffMs: limits.backoffMaxMs,
      // A full batch means more is waiting: go again at once.
      run: async () => (await runOnce(signal)).claimed >= batchSize ? 0 : undefined,
      wake: (fn) => {
        wake = fn;
      },
    });
    const stopped = handle.stopped.finally(async () => {
      await unlisten?.().catch(() => {});
    });
    return { stopped };
  }

  return { runOnce, drain, start };
}

/** What sending and recording a batch's lanes need from the worker. */
interface Lanes {
  db: Db;
  sender: Sender;
  clock: Clock;
  log: Log;
  limiter: ReturnType<typeof rateLimiter>;
  leaseMs: number;
}

/** Sends one chat's rows in order; returns each row's outcome or the time to put it back. */
async function sendLane(
  w: Lanes,
  rows: ClaimedRow[],
  signal: AbortSignal | undefined,
): Promise<LaneResult[]> {
  const { sender, clock, limiter, leaseMs } = w;
  const results: LaneResult[] = [];
  for (const row of rows) {
    const now = clock.now();
    // After a refusal for the chat, the rest of its lane is not sent (the chat is gone).
    if (results.some((r) => r.outcome?.kind === "failed" && r.outcome.deactivateChat)) {
      row.chat_active = false;
    }
    // After Telegram named the chat's new id (an upgrade to a supergroup), the rest of its lane
    // is put back: the move takes the rows there, and the next batch sends them to the new id.
    if (results.some((r) => r.outcome?.kind === "migrated")) {
      results.push({ row, deferTo: now });
      continue;
    }
    if (!row.chat_active) {
      const error =
        `Chat ${row.chat_id} is deactivated; re-add it with: pg-solo-lite chats add ${row.chat_id}`;
      results.push(
        {
          row,
          outcome: { kind: "failed", failCount: row.fail_count, error, deactivateChat: false },
        } as const,
      );
      continue;
    }
    if (row.chat_tied_apart !== null) {
      const error = `Not sent: chat ${row.chat_id} is tied to account id ${row.chat_tied_apart} ` +
        "(see pg-solo-lite chats list) and this message is of another account or of the " +
        "service, queued before the tie";
      results.push(
        {
          row,
          outcome: { kind: "failed", failCount: row.fail_count, error, deactivateChat: false },
        } as const,
      );
      continue;
    }
    // After a 429 the rest of the lane waits in the database, not here: sleeping through
    // retry_after would hold up every other chat's messages of this batch.
    const paused = results.find((r) => r.error !== undefined && r.deferTo);
    if (paused?.deferTo) {
      results.push({ row, deferTo: paused.deferTo });
      continue;
    }
    const at = limiter.reserve(row.chat_id, now.getTime());
    // A slot far ahead would hold up the batch (and, beyond the lease, let another worker
    // take the row): put it back as due at its slot instead.
    const maxWaitMs = Math.min(leaseMs / 2, limits.outboxClaimAheadS * 1000);
    if (signal?.aborted || at - now.getTime() > maxWaitMs) {
      results.push({ row, deferTo: new Date(Math.max(at, now.getTime())) });
      continue;
    }
    if (at > now.getTime()) await clock.sleep(at - now.getTime(), signal);
    if (signal?.aborted) {
      results.push({ row, deferTo: clock.now() });
      continue;
    }
    let result: { messageId: number } | { error: Error };
    try {
      // No signal: a send already started is finished on shutdown (bounded by the Bot API
      // timeout) so that it is recorded; an aborted one might be delivered and sent again.
      result = { messageId: await sender(row.chat_id, renderMessage(row)) };
    } catch (error) {
      result = { error: error instanceof Error ? error : new Error(String(error)) };
    }
    const outcome = decideOutcome(result, row.fail_count, clock.now());
    if (outcome.kind === "rate_limited") {
      limiter.pause(row.chat_id, outcome.sendAfter.getTime());
      results.push({ row, deferTo: outcome.sendAfter, error: redactText(outcome.error) });
      continue;
    }
    results.push({ row, outcome });
  }
  return results;
}

async function record(
  w: Lanes,
  results: LaneResult[],
  total: BatchResult,
): Promise<void> {
  const { db, clock, log } = w;
  const sent: { id: number; messageId: number }[] = [];
  const deferred: { id: number; at: Date; error?: string }[] = [];
  for (const r of results) {
    if (r.deferTo) deferred.push({ id: r.row.id, at: r.deferTo, error: r.error });
    else if (r.outcome?.kind === "sent") {
      sent.push({ id: r.row.id, messageId: r.outcome.messageId });
    }
  }
  await markSent(db, sent);
  await reschedule(db, deferred);
  total.sent += sent.length;
  total.deferred += deferred.length;
  for (const result of results) {
    const { row } = result;
    let { outcome } = result;
    if (outcome?.kind === "migrated") {
      const failure = await followAfterSend(db, log, {
        rowId: row.id,
        fromChatId: row.chat_id,
        toChatId: outcome.toChatId,
        now: clock.now(),
      });
      if (!failure) {
        total.deferred++;
        continue;
      }
      outcome = decideOutcome({ error: failure }, row.fail_count, clock.now());
    }
    if (outcome?.kind !== "retry" && outcome?.kind !== "failed") continue;
    const error = redactText(outcome.error).slice(0, 2000);
    if (outcome.kind === "retry") {
      total.retried++;
      await markRetry(db, { id: row.id, ...outcome, error });
      log.warn("Notification {id} to chat {chat} failed ({failCount}); retry at {at}: {error}", {
        id: row.id,
        chat: row.chat_id,
        failCount: outcome.failCount,
        at: outcome.sendAfter.toISOString(),
        error,
      });
      continue;
    }
    total.failed++;
    // A message held from a chat tied to another account is no failure to alert about.
    const alert = row.chat_active && row.chat_tied_apart === null && !ALERT_KINDS.has(row.kind);
    await db.transaction((tx) =>
      markFailed(tx, row, { ...outcome, error, alert, now: clock.now() })
    );
    log.error("Notification {id} to chat {chat} FAILED after {failCount} attempt(s): {error}", {
      id: row.id,
      chat: row.chat_id,
      failCount: outcome.failCount,
      error,
    });
  }
}
