import { RuntimeError, UsageError } from "../core/errors.ts";
import { verifyLedger } from "../db/mod.ts";
import { type Command, configure, parse, withDb } from "./common.ts";

const command: Command = {
  name: "ledger",
  help: `Usage: pg-solo-lite ledger verify [--json]

Recomputes the hash chain of the ledger (the transactions table) row by row, outside the
database, and names the first row that does not hold: changed content, a broken link, a
missing row or a cut tail. Prints the chain head (last row and its hash): keep it somewhere
else, and a later run that shows a different hash for that row proves a rewrite.

  --json   one JSON object: {"ok", "rows", "head": {"seq", "hash"}, "broken"?}

Exit code 0 when the chain holds, 1 when it is broken.

Examples:
  pg-solo-lite ledger verify
  pg-solo-lite ledger verify --json`,
  async run(args, io) {
    const { values, positionals } = parse("ledger", args, { json: { type: "boolean" } }, {
      min: 1,
      max: 1,
    });
    if (positionals[0] !== "verify") {
      throw new UsageError(
        `Unknown subcommand "${positionals[0]}"; see: pg-solo-lite ledger --help`,
      );
    }
    const config = configure(io, { logLevel: "error" });
    const report = await withDb(config, (db) => verifyLedger(db));
    if (values.json) {
      io.out(JSON.stringify(report));
    } else if (report.ok) {
      io.out(
        `ok  ledger chain holds: ${report.rows} row(s); head row ${report.head.seq} ` +
          `hash ${report.head.hash}`,
      );
    } else {
      const b = report.broken!;
      io.out(
        `FAIL  ledger chain broken at row ${b.chainSeq}${
          b.id !== null ? ` (transactions.id ${b.id})` : ""
        }: ${b.reason}; ${report.rows} row(s) before it hold`,
      );
    }
    if (!report.ok) throw new RuntimeError("The ledger's hash chain is broken; see above");
  },
};
export default command;
