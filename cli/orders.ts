import { UsageError } from "../core/errors.ts";
import { listAccounts, requireAccount } from "../execution/mod.ts";
import { ORDER_STATUSES } from "../trading/statuses.ts";
import { type Command, configure, parse, table, withDb } from "./common.ts";

const STATUSES: readonly string[] = ORDER_STATUSES;

const command: Command = {
  name: "orders",
  help: `Usage: pg-solo-lite orders list [--status S] [--account NAME] [--limit N] [--json]

Lists the most recent orders, newest first: status, side, quantity, prices, fill and the
deterministic client order id sent to the exchange. UNKNOWN means the order was sent but its
outcome is not known yet; it is reconciled from the exchange and never resent.

  --status S       only orders in status S (${STATUSES.join(", ")}); case-insensitive
  --account NAME   only the orders of that account (see: accounts list)
  --limit N        at most N orders (default 50, max 10000)
  --json           one JSON array instead of a table (each order names its account)

The account column is shown when the database has more than one account.

Examples:
  pg-solo-lite orders list
  pg-solo-lite orders list --status unknown --json
  pg-solo-lite orders list --account alice`,
  async run(args, io) {
    const { values, positionals } = parse("orders", args, {
      status: { type: "string" },
      account: { type: "string" },
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
    const { rows, accounts } = await withDb(config, async (db) => {
      const account = values.account === undefined
        ? undefined
        : await requireAccount(db, values.account);
      const rows = await db.query<Record<string, unknown>>(
        `select o.id, a.name as account, o.created_at, o.symbol, o.side, o.type, o.purpose,
                o.status, o.qty::text, coalesce(o.price, o.ref_price)::text as price,
                o.filled_qty::text as filled, o.avg_fill_price::text as avg_price, o.fee::text,
                o.fee_currency, o.client_order_id, o.exchange_order_id, o.strategy,
                o.reject_reason
           from orders o join accounts a on a.id = o.account_id
          where ($1::text is null or o.status = $1) and ($3::bigint is null or o.account_id = $3)
          order by o.id desc limit $2`,
        [status ?? null, limit, account?.id ?? null],
      );
      return { rows, accounts: (await listAccounts(db)).length };
    });
    if (values.json) {
      io.out(JSON.stringify(rows));
      return;
    }
    io.out(table(rows, [
      "id",
      ...(accounts > 1 ? ["account"] : []),
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
