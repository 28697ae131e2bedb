/**
 * A loop that never overlaps itself: the next run is scheduled only after the current one ends
 * (setInterval would stack async runs). Failures back off exponentially with jitter and are
 * logged; the loop stops when `signal` aborts and `stopped` resolves after the last run.
 */
import { backoffMs } from "./backoff.ts";
import type { Clock } from "./clock.ts";
import { errorMessage } from "./errors.ts";
import type { Log } from "./log.ts";

export interface LoopOptions {
  name: string;
  intervalMs: number;
  signal: AbortSignal;
  clock: Clock;
  log: Log;
  /** One run. Resolve to a number to choose the delay before the next run. */
  run: () => Promise<number | void>;
  /** Called with the consecutive failure count after each failed run. */
  onError?: (error: unknown, failures: number) => void | Promise<void>;
  maxBackoffMs?: number;
  /** An extra way to start the next run early (LISTEN/NOTIFY wake-ups). */
  wake?: (fn: () => void) => void;
  /**
   * No silent failures: called once when the loop has been failing for `failingWarnMs`
   * (WARN), once more at `failingCriticalMs` (CRITICAL), and once when it works again after
   * either (RECOVERED).
   */
  onFailing?: (f: LoopFailing) => void | Promise<void>;
  failingWarnMs?: number;
  failingCriticalMs?: number;
}

export interface LoopFailing {
  loop: string;
  level: "WARN" | "CRITICAL" | "RECOVERED";
  /** When the failures began. */
  since: Date;
  failures: number;
  /** The last error (absent when recovered). */
  error?: unknown;
}

/** By default a loop failing for 30 s is a WARN, for 5 min a CRITICAL. */
export const FAILING_WARN_MS = 30_000;
export const FAILING_CRITICAL_MS = 5 * 60_000;

export interface LoopHandle {
  stopped: Promise<void>;
  /** Starts the next run now if the loop is idle, or right after the current run. */
  wake(): void;
}

const WAKE = "wake";

export function startLoop(options: LoopOptions): LoopHandle {
  const { signal, clock, log } = options;
  let wakeNow: AbortController | undefined;
  let wakeRequested = false;
  const wake = () => {
    wakeRequested = true;
    // A reason given up front: abort() without one builds a DOMException (with its stack) on
    // every wake, i.e. once per accepted alert for the execution loop.
    wakeNow?.abort(WAKE);
  };
  options.wake?.(wake);
  // The stop ends a sleep too: one listener for the loop's life, not AbortSignal.any per sleep
  // (the execution loop sleeps once per wake-up, i.e. per batch of alerts).
  signal.addEventListener("abort", () => wakeNow?.abort(WAKE), { once: true });

  let failingSince: Date | undefined;
  let raised: "WARN" | "CRITICAL" | undefined;
  const tell = async (f: Omit<LoopFailing, "loop">) => {
    try {
      await options.onFailing?.({ loop: options.name, ...f });
    } catch (inner) {
      log.error("Loop {loop} failure report failed: {error}", {
        loop: options.name,
        error: errorMessage(inner),
      });
    }
  };
  const stillFailing = async (error: unknown, failures: number) => {
    failingSince ??= clock.now();
    const ms = clock.now().getTime() - failingSince.getTime();
    const level = ms >= (options.failingCriticalMs ?? FAILING_CRITICAL_MS)
      ? "CRITICAL"
      : ms >= (options.failingWarnMs ?? FAILING_WARN_MS)
      ? "WARN"
      : undefined;
    if (!level || level === raised || (raised === "CRITICAL")) return;
    raised = level;
    await tell({ level, since: failingSince, failures, error });
  };
  const working = async (failures: number) => {
    const since = failingSince;
    failingSince = undefined;
    if (!raised || !since) return;
    raised = undefined;
    await tell({ level: "RECOVERED", since, failures });
  };

  const stopped = (async () => {
    let failures = 0;
    while (!signal.aborted) {
      wakeRequested = false;
      let delay = options.intervalMs;
      try {
        const next = await options.run();
        if (typeof next === "number") delay = next;
        await working(failures);
        failures = 0;
      } catch (error) {
        failures++;
        delay = Math.max(
          delay,
          backoffMs(failures - 1, { baseMs: options.intervalMs, maxMs: options.maxBackoffMs }),
        );
        log.warn("Loop {loop} failed ({failures} in a row): {error}", {
          loop: options.name,
          failures,
          error: errorMessage(error),
        });
        try {
          await options.onError?.(error, failures);
        } catch (inner) {
          log.error("Loop {loop} error handler failed: {error}", {
            loop: options.name,
            error: errorMessage(inner),
          });
        }
        await stillFailing(error, failures);
      }
      if (signal.aborted || (wakeRequested && failures === 0)) continue;
      wakeNow = new AbortController();
      await clock.sleep(delay, wakeNow.signal);
      wakeNow = undefined;
    }
  })();
  return { stopped, wake };
}
