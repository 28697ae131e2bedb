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
