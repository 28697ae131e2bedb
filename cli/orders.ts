import { UsageError } from "../core/errors.ts";
import { ORDER_STATUSES } from "../trading/statuses.ts";
import { type Command, configure, parse, table, withDb } from "./common.ts";

const STATUSES: readonly string[] = ORDER_STATUSES;

const command: Command = {
  name: "orders",
  help: `Usage: pg-solo-lite orders list [--status S] [--limit N] [--json]

Lists the most recent orders, newest first: status, side, quantity, prices, fill and the
deterministic client order id sent to the exchange. UNKNOWN means the order was sent but its
outcome is not known yet; it is reconciled from the exchange and never resent.

  --status S   only orders in status S (${STATUSES.join(", ")}); case-insensitive
  --limit N    at most N orders (default 50, max 10000)
  --json       one JSON array instead of a table

Examples:
  pg-solo-lite orders list
  pg-solo-lite orders list --status unknown --json`,
  async run(args, io) {
    const { values, positionals } = parse("orders", args, {
      status: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean" },
    }, { min: 1, max: 1 });
    if (positionals[0] !== "list") {
      throw new UsageError(
        `Unknown subcommand "${positionals[0]}"; see: pg-solo-lite orders --help`,
      );
    }
    const status = values.status?.toUpperCase();
    if (status !== undefined && !STATUSES.includes(status)) {
      throw new UsageError(
        `Unknown status "${values.status}"; use one of ${STATUSES.join(", ")}`,
      );
    }
    const limit = values.limit === undefined ? 50 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new UsageError(`--limit "${values.limit}" is not a whole number from 1 to 10000`);
    }
    const config = configure(io, { logLevel: "error" });
    const rows = await withDb(config, (db) =>
      db.query<Record<string, unknown>>(
        `select id, created_at, symbol, side, type, purpose, status, qty::text,
                coalesce(price, ref_price)::text as price, filled_qty::text as filled,
                avg_fill_price::text as avg_price, fee::text, fee_currency, client_order_id,
                exchange_order_id, strategy, reject_reason
           from orders where ($1::text is null or status = $1)
          order by id desc limit $2`,
        [status ?? null, limit],
      ));
    if (values.json) {
      io.out(JSON.stringify(rows));
      return;
    }
    io.out(table(rows, [
      "id",
      "created_at",
      "symbol",
      "side",
      "type",
      "status",
      "qty",
      "price",
      "filled",
      "avg_price",
      "fee",
      "client_order_id",
      "reject_reason",
    ]));
  },
};
export default command;
