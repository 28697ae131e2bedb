/**
 * The trailing stop of a long position, as one pure rule shared by the Risk agent (live, paper)
 * and the backtest, so both move the stop the same way.
 *
 * The stop trails the highest price seen since entry by `trailPct` once that high is at least
 * `activationPct` above the entry (at once when 0). It only ever moves up, and only by at least
 * `stepPct` of the current stop, so a slowly rising price does not cancel and re-place the
 * exchange's stop on every tick.
 */

export interface TrailSpec {
  /** The distance (%) of the stop below the high; 0 < trailPct < 100. */
  trailPct: number;
  /** How far (%) above the entry the high must be before the stop trails; 0 or more. */
  activationPct: number;
  /** The smallest move (%) of the stop worth making; 0 or more. */
  stepPct: number;
}

/** The step a trailing stop moves by at least unless configured (TRAIL_STEP_PCT). */
export const DEFAULT_TRAIL_STEP_PCT = 0.5;

/**
 * The stop the trail asks for after the price reached `high` since `entry`, or undefined when
 * the stop stays where it is (not activated, not higher than the current stop by a step).
 * Prices that are not positive finite numbers never move a stop.
 */
export function trailedStop(
  entry: number,
  high: number,
  current: number | null | undefined,
  spec: TrailSpec,
): number | undefined {
  const ok = (n: number) => Number.isFinite(n) && n > 0;
  if (!ok(entry) || !ok(high) || !(spec.trailPct > 0 && spec.trailPct < 100)) return undefined;
  if (high < entry * (1 + spec.activationPct / 100)) return undefined;
  const candidate = high * (1 - spec.trailPct / 100);
  if (current === null || current === undefined || !ok(current)) return candidate;
  return candidate >= current * (1 + Math.max(spec.stepPct, 0) / 100) && candidate > current
    ? candidate
    : undefined;
}
