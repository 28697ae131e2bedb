/**
 * Report periods, in UTC: a day starts at 00:00, a week on Monday 00:00. A period is closed once
 * its end has passed.
 */
export type ReportKind = "daily" | "weekly";

export interface Period {
  kind: ReportKind;
  start: Date;
  /** Exclusive. */
  end: Date;
}

const DAY_MS = 86_400_000;

/** The period of `kind` that contains `at`. */
export function periodOf(kind: ReportKind, at: Date): Period {
  const day = Math.floor(at.getTime() / DAY_MS) * DAY_MS;
  if (kind === "daily") return { kind, start: new Date(day), end: new Date(day + DAY_MS) };
  // 1970-01-01 was a Thursday: Monday is 3 days later in the week of day 0.
  const weekday = (new Date(day).getUTCDay() + 6) % 7;
  const start = day - weekday * DAY_MS;
  return { kind, start: new Date(start), end: new Date(start + 7 * DAY_MS) };
}

/** The closed periods of `kind` after `since` (exclusive of its own period) up to `now`. */
export function closedPeriodsBetween(kind: ReportKind, since: Date, now: Date): Period[] {
  const out: Period[] = [];
  let p = periodOf(kind, since);
  for (let i = 0; i < 400; i++) {
    p = periodOf(kind, p.end);
    if (p.end.getTime() > now.getTime()) break;
    out.push(p);
  }
  return out;
}

/** The day as YYYY-MM-DD, for messages and command arguments. */
export const isoDay = (d: Date) => d.toISOString().slice(0, 10);

/** Parses --date YYYY-MM-DD (a real calendar day, UTC); undefined when it is not one. */
export function parseDay(text: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return undefined;
  const d = new Date(`${text}T00:00:00.000Z`);
  return Number.isNaN(d.getTime()) || isoDay(d) !== text ? undefined : d;
}
