import { listAccounts, requireAccount } from "../execution/mod.ts";
import { type Command, configure, parse, table, withDb } from "./common.ts";

const command: Command = {
  name: "positions",
  help: `Usage: pg-solo-lite positions [--all] [--account NAME] [--json]

Shows the open positions (spot, long only): quantity, average entry, stop and take-profit
levels, fees paid and realized PnL in the quote asset.

  --all            include closed positions (newest first, at most 500)
  --account NAME   only the positions of that account (see: accounts list)
  --json           one JSON array instead of a table (each position names its account)

Every account has positions of its own: a paper account's never mix with a live one's. The
account column is shown when the database has more than one account.

Examples:
  pg-solo-lite positions
  pg-solo-lite positions --all --json
  pg-solo-lite positions --account alice`,
  async run(args, io) {
    const { values } = parse("positions", args, {
      all: { type: "boolean" },
      account: { type: "string" },
      json: { type: "boolean" },
    }, { max: 0 });
    const config = configure(io, { logLevel: "error" });
    const { rows, accounts } = await withDb(config, async (db) => {
      const account = values.account === undefined
        ? undefined
        : await requireAccount(db, values.account);
      const rows = await db.query<Record<string, unknown>>(
        `select p.id, a.name as account, p.exchange_id, p.symbol, p.status, p.qty::text,
                p.avg_entry_price::text as avg_entry, p.stop_price::text as stop,
                -- A laddered position's target: its next slice's price.
                coalesce(p.take_profit_price,
                         (p.tp_ladder -> p.tp_ladder_filled ->> 'price')::numeric)::text
                  as take_profit, p.fees::text,
                p.realized_pnl::text, p.strategy, p.opened_at, p.closed_at
           from positions p join accounts a on a.id = p.account_id
          where ($1 or p.status = 'OPEN') and ($2::bigint is null or p.account_id = $2)
          order by p.status desc, p.id desc limit 500`,
        [values.all ?? false, account?.id ?? null],
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
