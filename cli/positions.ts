import { type Command, configure, parse, table, withDb } from "./common.ts";

const command: Command = {
  name: "positions",
  help: `Usage: pg-solo-lite positions [--all] [--json]

Shows the open positions (spot, long only): quantity, average entry, stop and take-profit
levels, fees paid and realized PnL in the quote asset.

  --all    include closed positions (newest first, at most 500)
  --json   one JSON array instead of a table

Examples:
  pg-solo-lite positions
  pg-solo-lite positions --all --json`,
  async run(args, io) {
    const { values } = parse("positions", args, {
      all: { type: "boolean" },
      json: { type: "boolean" },
    }, { max: 0 });
    const config = configure(io, { logLevel: "error" });
    const rows = await withDb(config, (db) =>
      db.query<Record<string, unknown>>(
        `select id, exchange_id, symbol, status, qty::text, avg_entry_price::text as avg_entry,
                stop_price::text as stop, take_profit_price::text as take_profit,
                fees::text, realized_pnl::text, strategy, opened_at, closed_at
           from positions where $1 or status = 'OPEN'
          order by status desc, id desc limit 500`,
        [values.all ?? false],
      ));
    if (values.json) {
      io.out(JSON.stringify(rows));
      return;
    }
    io.out(table(rows, [
      "id",
      "symbol",
      "status",
      "qty",
      "avg_entry",
      "stop",
      "take_profit",
      "fees",
      "realized_pnl",
      "strategy",
      "opened_at",
    ]));
  },
};
export default command;
