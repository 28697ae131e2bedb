/**
 * Bounded waits. `withTimeout` stops *waiting* for a promise; it does not cancel the work behind
 * it, so a caller that must be sure the work never happens needs a deadline the work itself
 * checks (see signals/webhook.ts).
 */

/** A wait that ran out; `ms` is the bound. Recognised by type, never by its message. */
export class DeadlineError extends Error {
  constructor(readonly ms: number, what = "Operation") {
    super(`${what} timed out after ${ms} ms`);
  }
}

/** Resolves or rejects like `p`, or rejects with a DeadlineError after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what?: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineError(ms, what)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const isDeadlineError = (e: unknown): e is DeadlineError => e instanceof DeadlineError;

/**
 * `withTimeout` for many waits with one bound `ms`: one timer for all of them instead of a
 * timer set and cleared per wait (that pair showed in the webhook's profile, once per alert).
 * The waits start in order, so they run out in order: the timer is set for the oldest one and,
 * when it fires, rejects those due and is set again for the next. A wait is never rejected
 * before `ms` has passed; the timer is cleared when no wait is left.
 */
export function timeoutGroup(ms: number, what?: string): <T>(p: Promise<T>) => Promise<T> {
  interface Wait {
    due: number;
    reject: (error: unknown) => void;
  }
  const waits = new Set<Wait>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (delay: number) => {
    timer = setTimeout(fire, Math.ceil(delay));
  };
  const fire = () => {
    timer = undefined;
    const now = performance.now();
    for (const wait of waits) {
      if (wait.due > now) return arm(wait.due - now);
      waits.delete(wait);
      wait.reject(new DeadlineError(ms, what));
    }
  };
  const settled = (wait: Wait) => {
    waits.delete(wait);
    if (waits.size === 0 && timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
  };
  return <T>(p: Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      const wait: Wait = { due: performance.now() + ms, reject };
      waits.add(wait);
      if (timer === undefined) arm(ms);
      p.then((value) => {
        settled(wait);
        resolve(value);
      }, (error) => {
        settled(wait);
        reject(error);
      });
    });
}
