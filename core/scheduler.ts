/**
 * Minute-level schedules through Deno.cron (5-field, UTC, at least one minute apart). Deno
 * skips a tick while the previous run of the same job is still going, so a slow run never
 * overlaps the next. Sub-minute work uses core/loop.ts instead.
 */
import { errorMessage } from "./errors.ts";
import type { Log } from "./log.ts";

export interface CronJob {
  /** Unique name within the process. */
  name: string;
  /** A 5-field cron expression in UTC, e.g. "* * * * *" for every minute. */
  schedule: string;
  run: () => Promise<void>;
}

const CRON_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;

/** Checks the expression before Deno.cron does, for a clear message at start. */
export function isValidSchedule(schedule: string): boolean {
  const fields = schedule.trim().split(/\s+/);
  return fields.length === 5 && fields.every((f) => CRON_FIELD.test(f));
}

/** Registers the jobs; they stop when `signal` aborts (a registered cron keeps the process up). */
export function scheduleCron(jobs: CronJob[], signal: AbortSignal, log: Log): void {
  for (const job of jobs) {
    if (!isValidSchedule(job.schedule)) {
      throw new Error(`Invalid cron schedule "${job.schedule}" for ${job.name}: expected 5 fields`);
    }
    Deno.cron(job.name, job.schedule, { signal }, async () => {
      const t0 = performance.now();
      try {
        await job.run();
        log.debug("Cron {job} ran in {ms} ms", {
          job: job.name,
          ms: Math.round(performance.now() - t0),
        });
      } catch (error) {
        log.warn("Cron {job} failed: {error}", { job: job.name, error: errorMessage(error) });
      }
    });
  }
}
