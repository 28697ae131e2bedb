/**
 * Long polling of the Bot API with grammY's client, bounded and stoppable: one getUpdates at a
 * time (limit and timeout from limits.ts), each update handled in order by the bot's handlers,
 * then confirmed by the next call's offset. It is grammY's `bot.start()` loop with three
 * differences that matter here: a webhook is never deleted behind the operator's back (it is
 * reported), a 409 conflict or a wrong token is reported and retried with backoff instead of
 * ending the loop, and every wait ends at once on shutdown.
 */
import { type Api, type Bot, GrammyError } from "grammy";
import { backoffMs } from "../core/backoff.ts";
import type { Clock } from "../core/clock.ts";
import { errorMessage } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import { redactText } from "../core/redact.ts";

/** Why commands are not being received, when Telegram says so. */
export type PollProblem = "webhook" | "poller" | "unauthorized";

export interface PollerDeps {
  bot: Bot;
  /** The client for getUpdates: its timeout must exceed the long-poll wait. */
  api: Api;
  clock: Clock;
  log: Log;
  signal: AbortSignal;
  /** Called when a problem starts and (with undefined) when polling works again. */
  onProblem(problem: PollProblem | undefined, detail: string): Promise<void>;
  /** At stop, before the last confirmation: the commands' own pending work (bounded). */
  beforeConfirm?: () => Promise<void>;
  /**
   * The last update handled, kept across restarts: an update handled but not yet confirmed
   * when the process died is handed over again by Telegram, and is skipped.
   */
  marks?: UpdateMarks;
}

export interface UpdateMarks {
  /** The last update handled by this bot, and when. */
  load(botId: number): Promise<{ updateId: number; at: Date } | undefined>;
  save(botId: number, updateId: number): Promise<void>;
}

/** The types of update the commands need; Telegram sends no others. */
export const ALLOWED_UPDATES = ["message", "callback_query"] as const;

export function problemOf(error: unknown): PollProblem | undefined {
  if (!(error instanceof GrammyError)) return undefined;
  if (error.error_code === 401) return "unauthorized";
  if (error.error_code !== 409) return undefined;
  return /webhook/i.test(error.description) ? "webhook" : "poller";
}

/** Polls until `signal` aborts; resolves once the last update handled has been confirmed. */
// Longer than ~70 lines: the loop, its error handling and the final confirmation read as one.
export async function pollUpdates(deps: PollerDeps): Promise<void> {
  const { bot, api, clock, log, signal } = deps;
  let offset: number | undefined;
  let failures = 0;
  let problem: PollProblem | undefined;
  // What was handled before this start and may come again (not yet confirmed to Telegram).
  let handledBefore: number | undefined;
  let marked = false;
  while (!signal.aborted) {
    try {
      if (!bot.isInited()) bot.botInfo = await api.getMe(signal as AbortSignalLike);
      if (!marked) [handledBefore, marked] = [await loadMark(deps, bot.botInfo.id), true];
      const updates = await api.getUpdates({
        offset,
        limit: limits.controlPollLimit,
        timeout: limits.controlPollTimeoutS,
        allowed_updates: [...ALLOWED_UPDATES],
      }, signal as AbortSignalLike);
      if (problem || failures > 0) {
        log.info("Telegram commands are received again (after {failures} failed polls)", {
          failures,
        });
        if (problem) await deps.onProblem(undefined, "");
      }
      problem = undefined;
      failures = 0;
      for (const update of updates) {
        offset = update.update_id + 1;
        if (handledBefore !== undefined && update.update_id <= handledBefore) {
          log.info("Skipped Telegram update {updateId}: handled before a restart", {
            updateId: update.update_id,
          });
          continue;
        }
        // Past the mark, Telegram's offset keeps what follows from coming twice.
        handledBefore = undefined;
        try {
          await bot.handleUpdate(update);
          await deps.marks?.save(bot.botInfo.id, update.update_id).catch((error) =>
            log.warn("Cannot record Telegram update {updateId} as handled: {error}", {
              updateId: update.update_id,
              error: redactText(errorMessage(error)),
            })
          );
        } catch (error) {
          // The handlers catch their own failures: this is a bug, logged, never a stop.
          log.error("Handling Telegram update {updateId} failed: {error}", {
            updateId: update.update_id,
            error: redactText(errorMessage(error)),
          });
        }
      }
    } catch (error) {
      if (signal.aborted) break;
      failures++;
      const found = problemOf(error);
      const detail = redactText(
        error instanceof GrammyError
          ? `${error.error_code}: ${error.description}`
          : errorMessage(error),
      );
      const retryAfterS = error instanceof GrammyError && error.error_code === 429
        ? Number(error.parameters.retry_after ?? 1)
        : 0;
      const waitMs = retryAfterS > 0
        ? retryAfterS * 1000
        : backoffMs(failures - 1, { baseMs: 1_000, maxMs: limits.controlPollBackoffMaxMs });
      if (found && found !== problem) {
        problem = found;
        log.error("Telegram commands are not received: {detail}", { detail, problem: found });
        await deps.onProblem(found, detail);
      } else {
        log.warn(
          "Polling Telegram for commands failed ({failures} in a row), retrying in {waitMs} ms: {detail}",
          {
            failures,
            waitMs,
            detail,
          },
        );
      }
      await clock.sleep(waitMs, signal);
    }
  }
  // Reads still being answered finish first (bounded): their updates are confirmed below, so
  // a restart would not answer them.
  await deps.beforeConfirm?.();
  if (offset !== undefined) await confirm(api, offset, log);
}

/**
 * The last update handled before this start, when it may still come again: Telegram keeps an
 * unconfirmed update for 24 hours (`limits.controlUpdateMarkMaxAgeMs`), and after a week
 * without updates it numbers the next ones at random, so an older mark is no guide. When it
 * cannot be read (the database down at start), no update is taken until it can: one handled
 * before the restart would run twice (a replayed /resume lifts a pause set after it). The
 * poll loop retries with its backoff.
 */
async function loadMark(deps: PollerDeps, botId: number): Promise<number | undefined> {
  let mark;
  try {
    mark = await deps.marks?.load(botId);
  } catch (error) {
    throw new Error(
      "Cannot read the last handled Telegram update, so commands wait (one handled before " +
        `the restart could run twice): ${errorMessage(error)}`,
      { cause: error },
    );
  }
  if (!mark) return undefined;
  const ageMs = deps.clock.now().getTime() - mark.at.getTime();
  return ageMs <= limits.controlUpdateMarkMaxAgeMs ? mark.updateId : undefined;
}

/**
 * Tells Telegram the updates handled so far are done, so that a restart does not run them
 * again. Bounded: a Bot API that does not answer quickly is given up on.
 */
async function confirm(api: Api, offset: number, log: Log): Promise<void> {
  try {
    await api.getUpdates(
      { offset, limit: 1, timeout: 0 },
      AbortSignal.timeout(2_000) as AbortSignalLike,
    );
  } catch (error) {
    log.warn("Cannot confirm the handled Telegram updates (they may be handled again): {error}", {
      error: redactText(errorMessage(error)),
    });
  }
}

// grammY types its own AbortSignal shim; it only listens for "abort" on ours.
type AbortSignalLike = Parameters<Api["getUpdates"]>[1];
