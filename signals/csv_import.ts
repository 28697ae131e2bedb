/**
 * CSV files of alerts (`import-csv`, and the pull door's CSV bodies): streamed line by line
 * through the shared intake, each row with its line number. Columns
 * `ts,symbol,side,qty,price,strategy,idempotency_key` (also sl, tp, confidence; others ignored).
 */
import { errorMessage, RuntimeError } from "../core/errors.ts";
import { parseCsvLine, readLines } from "../core/csv.ts";
import { limits } from "../core/limits.ts";
import type { Db } from "../db/mod.ts";
import type { WorkQueue } from "../runtime/mod.ts";
import {
  intakeAlert,
  type IntakeResult,
  recordInvalid,
  type Source,
  symbolResolver,
} from "./intake.ts";

const REQUIRED = ["symbol", "side", "strategy"];
const KNOWN = new Set([
  ...REQUIRED,
  "ts",
  "qty",
  "price",
  "sl",
  "tp",
  "confidence",
  "idempotency_key",
]);
const PROGRESS_EVERY_ROWS = 1_000;

export interface ImportSummary {
  rows: number;
  accepted: number;
  duplicates: number;
  rejected: { lineNo: number; reason: string }[];
}

export interface ImportOptions {
  source: Extract<Source, "csv" | "tradingview" | "pull">;
  dryRun: boolean;
  exchangeId: string;
  /** Called every few rows with a progress line (a terminal). */
  onProgress?: (line: string) => void;
  /** Woken with each accepted alert's id (execution's queue inside `serve`). */
  queue?: WorkQueue<number>;
  /** Why an entry without its own `ts` is refused (the pulled file after a gap: pull.ts). */
  undated?: string;
}

/** Streams the rows through the intake. Throws RuntimeError when the file cannot be used. */
export async function importCsv(
  db: Db,
  stream: ReadableStream<Uint8Array>,
  o: ImportOptions,
): Promise<ImportSummary> {
  const summary: ImportSummary = { rows: 0, accepted: 0, duplicates: 0, rejected: [] };
  const symbols = symbolResolver(db, o.exchangeId);
  // In a dry run nothing is stored, so repeats inside the file are found here.
  const seen = new Map<string, string>();
  let header: string[] | undefined;
  let at = 0;
  try {
    for await (const line of readLines(stream, limits.csvLineMaxBytes)) {
      at = line.lineNo;
      if (!header) {
        if ("tooLong" in line) throw new RuntimeError("The CSV header line is too long");
        if (line.text.trim() === "") continue;
        header = readHeader(line.text.replace(/^\uFEFF/, ""));
        continue;
      }
      if ("text" in line && line.text.trim() === "") continue;
      summary.rows++;
      const base = { source: o.source, lineNo: line.lineNo };
      let result: IntakeResult;
      if ("tooLong" in line) {
        const error = `Line is longer than ${limits.csvLineMaxBytes} bytes`;
        result = await recordInvalid(db, { ...base, rawBody: "", error }, { dryRun: o.dryRun });
      } else {
        const row = toRow(header, line.text);
        result = typeof row === "string"
          ? await recordInvalid(db, { ...base, rawBody: line.text, error: row }, {
            dryRun: o.dryRun,
          })
          : await intakeAlert(db, {
            ...base,
            rawBody: line.text,
            body: row,
            payload: row,
            undated: o.undated,
          }, {
            dryRun: o.dryRun,
            symbols,
            queue: o.queue,
          });
      }
      if (o.dryRun && result.outcome === "accepted") {
        const key = result.decision.idempotencyKey;
        const payload = JSON.stringify(result.decision);
        const before = seen.get(key);
        if (before === payload) result = { outcome: "duplicate" };
        else if (before !== undefined) {
          result = { outcome: "conflict", error: `Idempotency key "${key}" repeats in the file` };
        } else seen.set(key, payload);
      }
      count(summary, line.lineNo, result);
      if (o.onProgress && summary.rows % PROGRESS_EVERY_ROWS === 0) {
        o.onProgress(progress(summary));
      }
    }
  } catch (error) {
    if (error instanceof RuntimeError) throw error;
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied) {
      throw new RuntimeError(`Cannot read the CSV file: ${errorMessage(error)}`);
    }
    // (A database gone mid-file, say.) Where it stopped, and that running it again is safe.
    if (header && at > 0) {
      throw new RuntimeError(
        `The import stopped at line ${at}: ${errorMessage(error)}. ${
          o.dryRun
            ? "Nothing was written"
            : `The rows before it were handled (${summary.accepted} accepted, ` +
              `${summary.duplicates} duplicates, ${summary.rejected.length} rejected); ` +
              "importing the file again is safe, as rows already stored are duplicates"
        }`,
        { cause: error },
      );
    }
    throw error;
  }
  if (!header) throw new RuntimeError("The CSV file is empty; the first line must be the header");
  return summary;
}

function readHeader(text: string): string[] {
  const parsed = parseCsvLine(text);
  const cols = parsed.ok ? parsed.fields.map((c) => c.toLowerCase()) : [];
  const missing = REQUIRED.filter((c) => !cols.includes(c));
  if (!parsed.ok || missing.length > 0) {
    throw new RuntimeError(
      `The CSV header lacks the column(s) ${missing.join(", ") || "(unreadable)"}; the first ` +
        `line must name the columns: ts,symbol,side,qty,price,strategy,idempotency_key`,
    );
  }
  // A column named twice would take its last cell without a word (a "side" of sell, then buy).
  const twice = cols.find((c, i) => KNOWN.has(c) && cols.indexOf(c) !== i);
  if (twice !== undefined) {
    throw new RuntimeError(
      `The CSV header names the column ${twice} more than once; name each column once`,
    );
  }
  return cols;
}

/** The row as an object of its known, non-empty cells; or the reason it cannot be read. */
function toRow(header: string[], text: string): Record<string, string> | string {
  const parsed = parseCsvLine(text);
  if (!parsed.ok) return parsed.error;
  if (parsed.fields.length > header.length) {
    return `Row has ${parsed.fields.length} fields, the header ${header.length}`;
  }
  const row: Record<string, string> = {};
  header.forEach((col, i) => {
    const v = parsed.fields[i];
    if (KNOWN.has(col) && v !== undefined && v !== "") row[col] = v;
  });
  return row;
}

function count(s: ImportSummary, lineNo: number, r: IntakeResult) {
  if (r.outcome === "accepted") s.accepted++;
  else if (r.outcome === "duplicate") s.duplicates++;
  else s.rejected.push({ lineNo, reason: r.error });
}

const progress = (s: ImportSummary) =>
  `… ${s.rows} rows: ${s.accepted} accepted, ${s.duplicates} duplicates, ${s.rejected.length} rejected`;
