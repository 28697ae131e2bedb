/**
 * The writes of accepted signals, grouped: a write is sent at once when none is in flight on
 * its database; the writes that arrive meanwhile wait and go together in one statement
 * (record_inbound_decisions, migrations 0017 and 0022), so one commit and one round trip serve
 * all of them. A second statement is sent alongside only once `limits.intakeWriteJoinMin`
 * writes wait (at most `limits.intakeWritesInFlight` in flight): a statement costs PostgreSQL
 * about as much for one alert as for four, so small batches sent side by side cost more than
 * they save. Each caller still gets its own row only after the commit that stored it: an
 * alert is answered after it is durable, as before.
 *
 * A batch is one transaction. When it fails with an SQL error (a bad element, one alert past
 * its deadline), nothing of it was stored and each element is sent again alone, so it fails
 * or succeeds on its own. When the database is unreachable every element gets that error: a
 * commit may have been lost with its answer, so none is sent again (the sender retries).
 */
import { DatabaseUnavailableError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Db } from "../db/mod.ts";

/** One signal's element of record_inbound_decisions (migration 0022). */
export interface InboundWrite {
  source: string;
  key: string;
  hash: string;
  rawBody: string;
  /** JSON text of the stored payload, or null. */
  payloadJson: string | null;
  remoteAddr: string | null;
  /** JSON text of the decision. */
  decisionJson: string;
  lineNo: number | null;
  dedupeDay: string;
  strategy: string;
  strategyVersion: string;
  receivedAt: Date | null;
  acceptBy: Date | null;
}

/** What record_inbound_decisions answered for one signal. */
export interface InboundRow {
  id: number;
  status: string;
  first_id: number;
  error: string | null;
}

interface Pending {
  write: InboundWrite;
  resolve: (row: InboundRow) => void;
  reject: (error: unknown) => void;
}

const PREPARED = { prepare: true };

/** Stores one signal through the grouped writer of `db`; resolves after its commit. */
export function recordInbound(db: Db, write: InboundWrite): Promise<InboundRow> {
  let writer = writers.get(db);
  if (!writer) writers.set(db, writer = groupedWriter(db));
  return writer(write);
}

const writers = new WeakMap<Db, (write: InboundWrite) => Promise<InboundRow>>();

/** The error of a write refused before it is sent because its deadline has passed. */
function lateError(acceptBy: Date): Error {
  // The SQLSTATE the deadline trigger of migration 0009 raises, so callers see one error.
  return Object.assign(
    new Error(
      `The alert reached the database after its deadline (${acceptBy.toISOString()}); ` +
        "not stored",
    ),
    { code: "PSL01" },
  );
}

function groupedWriter(db: Db): (write: InboundWrite) => Promise<InboundRow> {
  let pending: Pending[] = [];
  let inFlight = 0;

  const send = async (batch: Pending[]): Promise<void> => {
    let rows: (InboundRow & { ord: number })[];
    try {
      rows = await db.query<InboundRow & { ord: number }>(
        "select * from record_inbound_decisions($1)",
        [inboundBatchJson(batch.map((p) => p.write))],
        PREPARED,
      );
    } catch (error) {
      if (batch.length === 1 || error instanceof DatabaseUnavailableError) {
        for (const p of batch) p.reject(error);
      } else {
        // Rolled back as a whole: each one again on its own.
        await Promise.all(batch.map((p) => send([p])));
      }
      return;
    }
    const answered = new Set<number>();
    for (const row of rows) {
      answered.add(row.ord);
      batch[row.ord - 1]?.resolve(row);
    }
    batch.forEach((p, i) => {
      if (!answered.has(i + 1)) p.reject(new Error("record_inbound_decisions skipped a signal"));
    });
  };

  const pump = () => {
    while (
      pending.length > 0 &&
      (inFlight === 0 ||
        (inFlight < limits.intakeWritesInFlight && pending.length >= limits.intakeWriteJoinMin))
    ) {
      const now = Date.now();
      const batch: Pending[] = [];
      const rest: Pending[] = [];
      for (const p of pending) {
        // A write already past its deadline would be refused at commit and take the rest of
        // its batch with it: refused here instead.
        if (p.write.acceptBy && p.write.acceptBy.getTime() <= now) {
          p.reject(lateError(p.write.acceptBy));
        } else if (batch.length < limits.intakeWriteBatchMax) batch.push(p);
        else rest.push(p);
      }
      pending = rest;
      if (batch.length === 0) return;
      inFlight++;
      send(batch).finally(() => {
        inFlight--;
        pump();
      });
    }
  };

  return (write) =>
    new Promise<InboundRow>((resolve, reject) => {
      pending.push({ write, resolve, reject });
      pump();
    });
}

/** The batch as the JSON array record_inbound_decisions reads; JSON values spliced in. */
export function inboundBatchJson(batch: InboundWrite[]): string {
  const parts = batch.map((w) => {
    const scalars = JSON.stringify({
      source: w.source,
      key: w.key,
      hash: w.hash,
      raw_body: w.rawBody,
      remote_addr: w.remoteAddr,
      line_no: w.lineNo,
      dedupe_day: w.dedupeDay,
      strategy: w.strategy,
      strategy_version: w.strategyVersion,
      received_at: w.receivedAt?.toISOString() ?? null,
      accept_by: w.acceptBy?.toISOString() ?? null,
    });
    return `${scalars.slice(0, -1)},"payload":${
      w.payloadJson ?? "null"
    },"decision":${w.decisionJson}}`;
  });
  return `[${parts.join(",")}]`;
}
