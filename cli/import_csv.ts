import { intakeAlert, type IntakeResult, recordInvalid, symbolResolver } from "../signals/mod.ts";
import { errorMessage, RuntimeError, UsageError } from "../core/errors.ts";
import { parseCsvLine, readLines } from "../core/csv.ts";
import { limits } from "../core/limits.ts";
import type { Db } from "../db/mod.ts";
import { type Command, configure, type Io, parse, withDb } from "./common.ts";

const HELP = `Usage: pg-solo-lite import-csv <file> [--source=csv|tradingview] [--dry-run]

Imports trading signals from a CSV file through the same validation, strategy mapping and
dedupe as POST /alerts/pine. The first line is the header; the columns are
  ts,symbol,side,qty,price,strategy,idempotency_key
(symbol, side and strategy required; sl, tp and confidence are also understood; other
columns are ignored). Rows are stored in inbound_alerts with their line number; accepted rows
are RECEIVED and executed by the running service. Importing the same file again accepts
nothing twice. The file is streamed, never loaded whole.

Options:
  --source S   the source recorded on each row: csv (default) or tradingview
  --dry-run    validate and check for duplicates only; nothing is written

Exit code 0 when the file was read (even with rejected rows), 1 when it could not be.

Example:
  pg-solo-lite import-csv signals.csv --dry-run`;

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
/** Rejected rows listed in the summary; the count covers the rest. */
const LISTED_MAX = 1_000;
const PROGRESS_EVERY_ROWS = 1_000;

export interface ImportSummary {
  rows: number;
  accepted: number;
  duplicates: number;
  rejected: { lineNo: number; reason: string }[];
}

const command: Command = {
  name: "import-csv",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parse("import-csv", args, {
      source: { type: "string", default: "csv" },
      "dry-run": { type: "boolean" },
    }, { min: 1, max: 1 });
    const source = values.source;
    if (source !== "csv" && source !== "tradingview") {
      throw new UsageError(`--source "${source}" is not known; use csv or tradingview`);
    }
    const path = positionals[0];
    const config = configure(io);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (error) {
      throw new RuntimeError(`Cannot read "${path}": ${errorMessage(error)}; check the path`);
    }
    const dryRun = values["dry-run"] ?? false;
    const summary = await withDb(config, (db) =>
      importCsv(db, file.readable, {
        source,
        dryRun,
        exchangeId: config.exchange.id,
        io,
      }));
    printSummary(io, path, summary, dryRun);
  },
};
export default command;

/** Streams the rows through the intake. Throws RuntimeError when the file cannot be used. */
export async function importCsv(
  db: Db,
  stream: ReadableStream<Uint8Array>,
  o: { source: "csv" | "tradingview"; dryRun: boolean; exchangeId: string; io?: Io },
): Promise<ImportSummary> {
  const summary: ImportSummary = { rows: 0, accepted: 0, duplicates: 0, rejected: [] };
  const symbols = symbolResolver(db, o.exchangeId);
  // In a dry run nothing is stored, so repeats inside the file are found here.
  const seen = new Map<string, string>();
  let header: string[] | undefined;
  try {
    for await (const line of readLines(stream, limits.csvLineMaxBytes)) {
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
          : await intakeAlert(db, { ...base, rawBody: line.text, body: row, payload: row }, {
            dryRun: o.dryRun,
            symbols,
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
      if (o.io?.isTerminal && summary.rows % PROGRESS_EVERY_ROWS === 0) {
        o.io.err(progress(summary));
      }
    }
  } catch (error) {
    if (error instanceof RuntimeError) throw error;
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied) {
      throw new RuntimeError(`Cannot read the CSV file: ${errorMessage(error)}`);
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

function printSummary(io: Io, path: string, s: ImportSummary, dryRun: boolean) {
  io.out(
    `${dryRun ? "Dry run of" : "Imported"} ${path}: ${s.rows} rows, ${s.accepted} ` +
      `${dryRun ? "would be accepted" : "accepted"}, ${s.duplicates} duplicates, ` +
      `${s.rejected.length} rejected${dryRun ? " (nothing was written)" : ""}`,
  );
  for (const r of s.rejected.slice(0, LISTED_MAX)) io.out(`  line ${r.lineNo}: ${r.reason}`);
  if (s.rejected.length > LISTED_MAX) {
    io.out(`  … and ${s.rejected.length - LISTED_MAX} more rejected rows`);
  }
}
