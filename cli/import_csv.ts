import { importCsv, type ImportSummary } from "../signals/mod.ts";
import { errorMessage, RuntimeError, UsageError } from "../core/errors.ts";
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

/** Rejected rows listed in the summary; the count covers the rest. */
const LISTED_MAX = 1_000;

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
        onProgress: io.isTerminal ? (line) => io.err(line) : undefined,
      }));
    printSummary(io, path, summary, dryRun);
  },
};
export default command;

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
