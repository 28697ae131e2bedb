/**
 * Fixtures shared by the tests: the options of a test that starts servers or services (their
 * sockets and timers outlive one test step), a strategy row, and a look at the outbox.
 */
import assert from "node:assert/strict";
import type { Db } from "../../db/db.ts";

/** Deno.test options for tests that run servers, services or child processes. */
export const serviceTest = { sanitizeOps: false, sanitizeResources: false } as const;

/** A row of `strategies` for alerts to map to; columns default to the table's defaults. */
export async function insertStrategy(
  db: Db,
  name: string,
  columns: { confidence_min?: number; enabled?: boolean; symbols?: string[] } = {},
): Promise<void> {
  const names = ["name", ...Object.keys(columns)];
  const values = [name, ...Object.values(columns)];
  await db.query(
    `insert into strategies (${names.join(", ")}) values (${
      names.map((_, i) => `$${i + 1}`).join(", ")
    })`,
    values,
  );
}

/**
 * The outbox rows of one kind (oldest first), asserting there is at least one, and that every
 * one matches `text` and `severity` when given.
 */
export async function expectNotification(
  db: Db,
  kind: string,
  want: { text?: RegExp; severity?: "INFO" | "WARN" | "CRITICAL"; count?: number } = {},
): Promise<{ severity: string; text: string }[]> {
  const rows = await db.query<{ severity: string; text: string }>(
    "select severity, text from notification_outbox where kind = $1 order by id",
    [kind],
  );
  if (want.count !== undefined) assert.equal(rows.length, want.count, `${kind} notifications`);
  else assert.ok(rows.length > 0, `a ${kind} notification was queued`);
  for (const r of rows) {
    if (want.severity) assert.equal(r.severity, want.severity, `${kind}: ${r.text}`);
    if (want.text) assert.match(r.text, want.text);
  }
  return rows;
}

/**
 * Polls `fn` until it gives a value (not undefined or false) and returns it; throws naming
 * `what` after `ms`. For waiting on another process, never for timing anything.
 */
export async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
