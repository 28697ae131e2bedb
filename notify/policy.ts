/**
 * The pure decisions of the outbox worker: what a send outcome does to a row, and when the
 * next message may go out under Telegram's rate limits. No I/O here.
 */
import { nextStep } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { sha256Hex } from "../core/hash.ts";
import { TelegramChatMigratedError, TelegramRejectedError } from "./telegram_error.ts";

export type Outcome =
  | { kind: "sent"; messageId: number }
  /** Not a failure: wait `retry_after`, then try again. */
  | { kind: "rate_limited"; sendAfter: Date; error: string }
  /** Counted: retry by the schedule, or FAILED (with one alert) after the last attempt. */
  | { kind: "retry"; failCount: number; sendAfter: Date; error: string }
  | { kind: "failed"; failCount: number; error: string; deactivateChat: boolean }
  /** Not a failure: the group became a supergroup; follow it to `toChatId` and send there. */
  | { kind: "migrated"; toChatId: number; error: string };

/**
 * What a send result does to a row that had `failCount` failures before. The n-th failure
 * waits `schedule[n-1]`; the `maxFailures`-th marks the row FAILED.
 */
export function decideOutcome(
  result: { messageId: number } | { error: Error },
  failCount: number,
  now: Date,
  options: { schedule?: readonly number[]; maxFailures?: number } = {},
): Outcome {
  if ("messageId" in result) return { kind: "sent", messageId: result.messageId };
  const { error } = result;
  if (error instanceof TelegramChatMigratedError) {
    return { kind: "migrated", toChatId: error.toChatId, error: error.message };
  }
  const schedule = options.schedule ?? limits.outboxRetryScheduleMs;
  const maxFailures = options.maxFailures ?? limits.outboxMaxFailures;
  const step = nextStep(error);
  if (step.step === "wait") {
    return {
      kind: "rate_limited",
      sendAfter: new Date(now.getTime() + step.waitMs),
      error: error.message,
    };
  }
  const count = failCount + 1;
  if (step.step === "reject") {
    return {
      kind: "failed",
      failCount: count,
      error: error.message,
      deactivateChat: error instanceof TelegramRejectedError && error.scope === "chat",
    };
  }
  if (count >= maxFailures) {
    return { kind: "failed", failCount: count, error: error.message, deactivateChat: false };
  }
  const waitMs = schedule[Math.min(count - 1, schedule.length - 1)];
  return {
    kind: "retry",
    failCount: count,
    sendAfter: new Date(now.getTime() + waitMs),
    error: error.message,
  };
}

/**
 * Spaces messages at most `perChatPerS` per chat and `globalPerS` overall (0 turns a limit
 * off). `reserve` books the earliest slot and returns it; the caller waits until then.
 */
export interface RateLimiter {
  reserve(chatId: number, nowMs: number): number;
  /** Telegram said 429 for this chat: nothing goes to it before `untilMs`. */
  pause(chatId: number, untilMs: number): void;
}

export function rateLimiter(perChatPerS: number, globalPerS: number): RateLimiter {
  const chatGapMs = perChatPerS > 0 ? 1000 / perChatPerS : 0;
  const globalGapMs = globalPerS > 0 ? 1000 / globalPerS : 0;
  const chatNext = new Map<number, number>();
  let globalNext = 0;
  return {
    reserve(chatId, nowMs) {
      const at = Math.max(nowMs, chatNext.get(chatId) ?? 0, globalNext);
      if (chatGapMs > 0) chatNext.set(chatId, at + chatGapMs);
      if (globalGapMs > 0) globalNext = at + globalGapMs;
      // Forget chats that are idle again so the map stays as small as the set of busy chats.
      if (chatNext.size > 1000) {
        for (const [id, t] of chatNext) if (t <= nowMs) chatNext.delete(id);
      }
      return at;
    },
    pause(chatId, untilMs) {
      chatNext.set(chatId, Math.max(chatNext.get(chatId) ?? 0, untilMs));
    },
  };
}

/**
 * A dedupe key that collapses repeated identical errors: the same kind and detail (digits
 * ignored, so ids and amounts do not make every message unique) within one time window
 * share a key, and enqueue_notification stores the first one only.
 */
export function collapseKey(
  kind: string,
  detail: string,
  now: Date,
  windowMs: number = limits.outboxFailedAlertWindowMs,
): string {
  const normalized = detail.replace(/\d+/g, "#").trim().toLowerCase();
  // 16 hex characters (64 bits) are plenty to tell error texts apart within one window.
  const hex = sha256Hex(normalized).slice(0, 16);
  return `${kind}:${hex}:${Math.floor(now.getTime() / windowMs)}`;
}
