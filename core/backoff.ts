/**
 * Exponential backoff with full jitter: attempt 0 waits up to `baseMs`, each further attempt
 * doubles the ceiling until `maxMs`. Jitter spreads retries so that restarts do not stampede.
 */
export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  /** Source of randomness in [0, 1); injected in tests. */
  random?: () => number;
}

export function backoffMs(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 500;
  const max = options.maxMs ?? 60_000;
  const random = options.random ?? Math.random;
  const ceiling = Math.min(max, base * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
