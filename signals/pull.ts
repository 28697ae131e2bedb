/**
 * The inbox's third door: a file of alerts at PULL_ALERTS_URL (kept up to date by a script, a
 * Gist or an object store), fetched every PULL_ALERTS_INTERVAL_S with If-None-Match /
 * If-Modified-Since, so that an unchanged file costs one 304. The body is JSON lines (one Pine
 * alert message per line) or CSV with the columns of `import-csv`; every alert goes through the
 * shared intake (source `pull`): the same validation, strategy mapping and dedupe as the
 * webhook. A line is submitted once, ever: the hashes of submitted lines are kept in
 * `pull_seen_lines` (and the latest in memory), so a file that keeps its old lines adds no row
 * per poll nor per restart, and a line refused once (say, for a strategy not yet created) is not
 * accepted later when its cause is gone: the sender sends it again, as a new line.
 *
 * A line without its own `ts` counts as received when it is read, so its age is bounded by what
 * the poll knows (`undatedEntryRefusal`): it was written after the previous full read of the file
 * (`pull_reads`, kept across restarts) and before the answer's `Last-Modified`. An entry from a
 * line that cannot be fresh, or that may be older than SIGNAL_MAX_AGE_S because the file went
 * unread for longer (serve down, the file unreachable), is refused with the reason.
 */
import { createHash } from "node:crypto";
import { errorMessage, RuntimeError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Db } from "../db/mod.ts";
import type { WorkQueue } from "../runtime/mod.ts";
import { importCsv, type ImportSummary } from "./csv_import.ts";
import { intakeAlert, type IntakeResult, recordInvalid, symbolResolver } from "./intake.ts";
import {
  inexactJsonNumber,
  inexactNumberError,
  repeatedAlertField,
  repeatedFieldError,
} from "./request.ts";

export interface PullOptions {
  db: Db;
  url: string;
  exchangeId: string;
  queue?: WorkQueue<number>;
  /** Replaces the global fetch (tests). */
  fetch?: typeof fetch;
  /** SIGNAL_MAX_AGE_S; 0 or absent: a line without `ts` is never refused for its age. */
  maxAgeS?: number;
  /** PULL_ALERTS_INTERVAL_S: the usual time between two reads. */
  intervalS?: number;
  now?: () => Date;
}

export type PullResult =
  | { status: "not-modified" }
  | { status: "unchanged" }
  | { status: "read"; format: "jsonl" | "csv"; summary: ImportSummary };

export interface Puller {
  /** One poll. Throws on a network error, a non-2xx/304 answer or a body it cannot read. */
  pullOnce(): Promise<PullResult>;
}

export function createPuller(o: PullOptions): Puller {
  const doFetch = o.fetch ?? fetch;
  const symbols = symbolResolver(o.db, o.exchangeId);
  const seen = boundedSet(limits.pullSeenLinesMax);
  let etag: string | undefined;
  let lastModified: string | undefined;
  let lastBodyHash: string | undefined;
  const now = o.now ?? (() => new Date());
  const urlHash = sha256(o.url);
  /** When the file was last read in full (undefined: not looked up yet; null: never). */
  let lastReadAt: Date | null | undefined;
  const readDone = async (at: Date) => {
    await o.db.query(
      `insert into pull_reads (url_hash, read_at) values ($1, $2)
       on conflict (url_hash) do update set read_at = greatest(pull_reads.read_at, $2)`,
      [urlHash, at],
    );
    lastReadAt = at;
  };

  return {
    async pullOnce() {
      // The poll's start: a line missing from its answer was written after it.
      const startedAt = now();
      const headers: Record<string, string> = { accept: "application/x-ndjson, text/csv, */*" };
      if (etag) headers["if-none-match"] = etag;
      if (lastModified) headers["if-modified-since"] = lastModified;
      const res = await doFetch(o.url, {
        headers,
        signal: AbortSignal.timeout(limits.pullTimeoutMs),
      });
      if (res.status === 304) {
        await res.body?.cancel();
        await readDone(startedAt);
        return { status: "not-modified" };
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new RuntimeError(`The alerts file answered HTTP ${res.status}`);
      }
      const text = await readLimited(res, limits.pullBodyMaxBytes);
      // The validators are kept only once every line of this version is stored: after a poll
      // that failed half-way, the next one asks for the file without them and reads it again.
      const validators = {
        etag: res.headers.get("etag") ?? undefined,
        lastModified: res.headers.get("last-modified") ?? undefined,
      };
      const bodyHash = sha256(text);
      if (bodyHash === lastBodyHash) {
        ({ etag, lastModified } = validators);
        await readDone(startedAt);
        return { status: "unchanged" };
      }
      const { fresh, hashes } = await unseenLines(o.db, text, seen);
      const format = /^\s*\{/.test(text) ? "jsonl" : "csv";
      let undated: string | undefined;
      if (fresh.size > 0 && (o.maxAgeS ?? 0) > 0) {
        if (lastReadAt === undefined) {
          const [row] = await o.db.query<{ read_at: Date }>(
            "select read_at from pull_reads where url_hash = $1",
            [urlHash],
          );
          lastReadAt = row ? new Date(row.read_at) : null;
        }
        undated = undatedEntryRefusal({
          readAt: startedAt,
          previousReadAt: lastReadAt ?? undefined,
          lastModified: validators.lastModified,
          maxAgeS: o.maxAgeS!,
          intervalS: o.intervalS ?? 0,
        });
      }
      const summary = format === "jsonl"
        ? await submitJsonLines(o, fresh, symbols, undated)
        : await submitCsv(o, text, fresh, undated);
      // Remembered only once stored: a poll that failed half-way submits them again (the
      // stored ones are then duplicates).
      await rememberLines(o.db, hashes);
      for (const h of hashes) seen.add(h);
      lastBodyHash = bodyHash;
      ({ etag, lastModified } = validators);
      await readDone(startedAt);
      return { status: "read", format, summary };
    },
  };
}

/**
 * Why an entry from a new line without its own `ts` is not traded, or undefined when it may be.
 * Such a line was written after the previous full read of the file (else that read would have
 * submitted it) and no later than the answer's Last-Modified. It is too old when the file was
 * last modified more than one poll interval plus `maxAgeS` before this read (the wait for the
 * next read is allowed: with an interval over `maxAgeS` every line waits that long); it may be as
 * old as the time since the
 * previous read, which is refused past one poll interval plus `maxAgeS` (a downtime, a file that
 * could not be read), and unknown in a file never read before. In normal running (a read every
 * interval) a new line is never refused.
 */
export function undatedEntryRefusal(o: {
  readAt: Date;
  previousReadAt?: Date;
  lastModified?: string;
  maxAgeS: number;
  intervalS: number;
}): string | undefined {
  const fix = "an entry is not traded that late; give each line its own ts";
  // A line waits up to one interval for its read in normal running: that wait is allowed, as
  // for the time since the previous read below.
  const allowedS = o.intervalS + o.maxAgeS;
  const modifiedMs = o.lastModified === undefined ? NaN : Date.parse(o.lastModified);
  if (o.readAt.getTime() - modifiedMs > allowedS * 1000) {
    return `The line has no ts and the alerts file was last modified at ` +
      `${new Date(modifiedMs).toISOString()} (Last-Modified), over PULL_ALERTS_INTERVAL_S + ` +
      `SIGNAL_MAX_AGE_S = ${allowedS} s before it was read: ${fix}`;
  }
  if (!o.previousReadAt) {
    return "The line has no ts and was in the alerts file when it was first read: its age is " +
      `unknown and may be over SIGNAL_MAX_AGE_S=${o.maxAgeS} s; ${fix}`;
  }
  const gapS = (o.readAt.getTime() - o.previousReadAt.getTime()) / 1000;
  if (gapS <= allowedS) return undefined;
  return `The line has no ts and the alerts file was not read from ` +
    `${o.previousReadAt.toISOString()} to ${o.readAt.toISOString()} (over ` +
    `PULL_ALERTS_INTERVAL_S + SIGNAL_MAX_AGE_S = ${allowedS} s): it may be that ` +
    `old; ${fix}`;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * Lines (by 1-based number) never submitted before, and their hashes: those this process
 * remembers are skipped at once, the rest are looked up in `pull_seen_lines`.
 */
async function unseenLines(db: Db, text: string, seen: BoundedSet) {
  const candidates = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const h = sha256(line);
    if (!seen.has(h) && !candidates.has(h)) candidates.set(h, i + 1);
  });
  const known = new Set<string>();
  const all = [...candidates.keys()];
  for (let i = 0; i < all.length; i += LOOKUP_CHUNK) {
    const rows = await db.query<{ line_hash: string }>(
      "select line_hash from pull_seen_lines where line_hash = any($1::text[])",
      [all.slice(i, i + LOOKUP_CHUNK)],
    );
    for (const r of rows) known.add(r.line_hash);
  }
  const fresh = new Map<number, string>();
  const hashes: string[] = [];
  for (const [h, lineNo] of candidates) {
    if (known.has(h)) {
      seen.add(h);
      continue;
    }
    hashes.push(h);
    fresh.set(lineNo, lines[lineNo - 1]);
  }
  return { fresh, hashes };
}

/** Hashes per statement when looking up or remembering lines. */
const LOOKUP_CHUNK = 5_000;

async function rememberLines(db: Db, hashes: string[]): Promise<void> {
  for (let i = 0; i < hashes.length; i += LOOKUP_CHUNK) {
    await db.query(
      `insert into pull_seen_lines (line_hash) select unnest($1::text[])
       on conflict (line_hash) do nothing`,
      [hashes.slice(i, i + LOOKUP_CHUNK)],
    );
  }
}

async function submitJsonLines(
  o: PullOptions,
  lines: Map<number, string>,
  symbols: ReturnType<typeof symbolResolver>,
  undated: string | undefined,
): Promise<ImportSummary> {
  const summary: ImportSummary = { rows: 0, accepted: 0, duplicates: 0, rejected: [] };
  for (const [lineNo, line] of lines) {
    summary.rows++;
    const base = { source: "pull" as const, lineNo, rawBody: line };
    let body: unknown;
    let result: IntakeResult;
    try {
      body = JSON.parse(line);
    } catch (error) {
      const reason = `Line is not JSON: ${errorMessage(error)}`;
      result = await recordInvalid(o.db, { ...base, error: reason });
      count(summary, lineNo, result);
      continue;
    }
    const inexact = inexactJsonNumber(line);
    const repeated = typeof body === "object" && body !== null && !Array.isArray(body)
      ? repeatedAlertField(line, body as Record<string, unknown>)
      : undefined;
    if (inexact || repeated) {
      const error = inexact ? inexactNumberError(inexact) : repeatedFieldError(repeated!);
      result = await recordInvalid(o.db, { ...base, error });
      count(summary, lineNo, result);
      continue;
    }
    result = await intakeAlert(o.db, { ...base, body, payload: body, undated }, {
      symbols,
      queue: o.queue,
    });
    count(summary, lineNo, result);
  }
  return summary;
}

/** CSV: the header and the unseen rows, through the same import as `import-csv`. */
function submitCsv(
  o: PullOptions,
  text: string,
  fresh: Map<number, string>,
  undated: string | undefined,
) {
  const lines = text.split(/\r?\n/);
  const headerAt = lines.findIndex((l) => l.trim() !== "");
  // Rows already submitted become blank lines, so line numbers stay those of the file.
  const kept = lines.map((l, i) => i === headerAt || fresh.has(i + 1) ? l : "").join("\n");
  return importCsv(o.db, ReadableStream.from([new TextEncoder().encode(kept)]), {
    source: "pull",
    dryRun: false,
    exchangeId: o.exchangeId,
    queue: o.queue,
    undated,
  });
}

function count(s: ImportSummary, lineNo: number, r: IntakeResult) {
  if (r.outcome === "accepted") s.accepted++;
  else if (r.outcome === "duplicate") s.duplicates++;
  else s.rejected.push({ lineNo, reason: r.error });
}

async function readLimited(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new RuntimeError(`The alerts file is ${declared} bytes; at most ${maxBytes} are read`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? ReadableStream.from<Uint8Array>([])) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      throw new RuntimeError(`The alerts file is over ${maxBytes} bytes; at most that is read`);
    }
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(all).replace(/^\uFEFF/, "");
  } catch {
    throw new RuntimeError("The alerts file is not UTF-8 text");
  }
}

interface BoundedSet {
  has(v: string): boolean;
  add(v: string): void;
}

/** A set that forgets its oldest entries past `max` (Map keeps insertion order). */
function boundedSet(max: number): BoundedSet {
  const m = new Map<string, true>();
  return {
    has: (v) => m.has(v),
    add(v) {
      m.set(v, true);
      if (m.size > max) m.delete(m.keys().next().value!);
    },
  };
}
