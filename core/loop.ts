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
}

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

  const stopped = (async () => {
    let failures = 0;
    while (!signal.aborted) {
      wakeRequested = false;
      let delay = options.intervalMs;
      try {
        const next = await options.run();
        if (typeof next === "number") delay = next;
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
      }
      if (signal.aborted || (wakeRequested && failures === 0)) continue;
      wakeNow = new AbortController();
      const both = AbortSignal.any([signal, wakeNow.signal]);
      await clock.sleep(delay, both);
      wakeNow = undefined;
    }
  })();
  return { stopped, wake };
}
