import { accountVar, type Config } from "../core/config.ts";
import { UsageError } from "../core/errors.ts";
import type { Db } from "../db/mod.ts";
import {
  type Account,
  type AccountMode,
  addAccount,
  DEFAULT_ACCOUNT_ID,
  disableAccount,
  listAccounts,
  missingKeys,
  openPositionCounts,
} from "../execution/mod.ts";
import { type Command, configure, type Io, parse, table, withDb } from "./common.ts";

const MODES: readonly string[] = ["paper", "sandbox", "live"];

const HELP = `Usage:
  pg-solo-lite accounts add <name> [--mode paper|sandbox|live] [--exchange ID] [--user NAME]
                                   [--risk-pct N] [--paper-balance N]
  pg-solo-lite accounts list [--json]
  pg-solo-lite accounts disable <name>

The exchange accounts this service trades on. The account "default" is the one the
single-account environment describes (EXCHANGE_ID, EXCHANGE_MODE, BROKER_API_KEY and
BROKER_API_SECRET); it always exists and cannot be disabled. Any other account reads its keys
from ACCOUNT_<NAME>_API_KEY and ACCOUNT_<NAME>_API_SECRET (and ACCOUNT_<NAME>_API_URL, default
EXCHANGE_API_URL), <NAME> being its name upper-cased with "-" as "_"; the database keeps only a
fingerprint of the key. A strategy trades on the accounts subscribed to it (strategies add
<name> --accounts a,b), or on the default account alone.

Options of add:
  --mode M            paper (simulated fills on its own paper balance), sandbox or live [paper]
  --exchange ID       ccxt exchange id [EXCHANGE_ID]
  --user NAME         the person the account belongs to (created when new)
  --risk-pct N        equity risked per trade, above 0 up to 3 [RISK_PER_TRADE_PCT]
  --paper-balance N   a paper account's initial deposit in the quote asset [PAPER_BALANCE]

list shows, per account, whether its keys are in the environment (naming the variables, never
their values) and how many positions it has open. disable stops new entries: the account is
no longer traded for new signals, while its open orders are still reconciled and its open
positions still watched.

Examples:
  pg-solo-lite accounts add alice --mode live --user Alice
  pg-solo-lite accounts add bob --paper-balance 2500
  pg-solo-lite accounts list
  pg-solo-lite accounts disable bob`;

function positiveNumber(flag: string, raw: string | undefined, max?: number) {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const ok = raw.trim() !== "" && Number.isFinite(n) && (max === undefined ? n >= 0 : n > 0) &&
    (max === undefined || n <= max);
  if (!ok) {
    throw new UsageError(
      `--${flag} "${raw}" is out of range; give a number ${
        max === undefined ? "0 or above" : `above 0, up to ${max}`
      }`,
    );
  }
  return n;
}

const command: Command = {
  name: "accounts",
  help: HELP,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === "add") return await add(rest, io);
    if (sub === "list") return await list(rest, io);
    if (sub === "disable") {
      const { positionals } = parse("accounts", rest, {}, { min: 1, max: 1 });
      const config = configure(io, { logLevel: "error" });
      const account = await withDb(config, (db) => disableAccount(db, positionals[0]));
      io.out(
        `Disabled account ${account.name}: no new entries; its open orders are still reconciled`,
      );
      return;
    }
    throw new UsageError(
      `${
        sub === undefined ? "Missing subcommand" : `Unknown subcommand "${sub}"`
      }: expected add, list or disable; see: pg-solo-lite accounts --help`,
    );
  },
};
export default command;

async function add(args: string[], io: Io) {
  const { values, positionals } = parse("accounts", args, {
    mode: { type: "string", default: "paper" },
    exchange: { type: "string" },
    user: { type: "string" },
    "risk-pct": { type: "string" },
    "paper-balance": { type: "string" },
  }, { min: 1, max: 1 });
  const mode = values.mode.toLowerCase();
  if (!MODES.includes(mode)) {
    throw new UsageError(`--mode "${values.mode}" is not a mode; use paper, sandbox or live`);
  }
  const exchange = values.exchange?.trim().toLowerCase();
  if (exchange !== undefined && !/^[a-z0-9]+$/.test(exchange)) {
    throw new UsageError(`--exchange "${values.exchange}" is not a ccxt exchange id like binance`);
  }
  const user = values.user?.trim();
  if (user !== undefined && (user.length === 0 || user.length > 100)) {
    throw new UsageError("--user: expected 1 to 100 characters");
  }
  const riskPct = positiveNumber("risk-pct", values["risk-pct"], 3);
  const paperBalance = positiveNumber("paper-balance", values["paper-balance"]);
  if (paperBalance !== undefined && mode !== "paper") {
    throw new UsageError(`--paper-balance is for paper accounts; this one is ${mode}`);
  }
  const config = configure(io, { logLevel: "error" });
  const account = await withDb(config, (db) =>
    addAccount(db, {
      name: positionals[0],
      mode: mode as AccountMode,
      exchangeId: exchange ?? config.exchange.id,
      user,
      riskPct,
      paperBalance,
    }));
  io.out(`Added account ${account.name}: ${account.mode} on ${account.exchangeId}`);
  if (account.pausedWithAll !== undefined) {
    io.out(
      `  Its entries are paused, as every account's are (${account.pausedWithAll}); ` +
        `resume it with: pg-solo-lite resume --account ${account.name}`,
    );
  }
  const missing = missingKeys(config, account);
  if (missing.length > 0) {
    io.out(`  It cannot trade yet: ${missing.join("; ")} (set them where serve runs)`);
  }
  io.out(
    `  Subscribe it to a strategy with: pg-solo-lite strategies add <name> --accounts ${account.name}`,
  );
}

/** The environment variables holding an account's keys. */
function keyVars(a: Account): string {
  return a.id === DEFAULT_ACCOUNT_ID
    ? "BROKER_API_KEY, BROKER_API_SECRET"
    : `${accountVar(a.name, "API_KEY")}, ${accountVar(a.name, "API_SECRET")}`;
}

async function list(args: string[], io: Io) {
  const { values } = parse("accounts", args, { json: { type: "boolean" } }, { max: 0 });
  const config = configure(io, { logLevel: "error" });
  const rows = await withDb(config, accountRows);
  const withKeys = rows.map(({ account, open }) => {
    const a = asConfigured(config, account);
    const present = keyVarsPresent(config, a);
    return {
      name: a.name,
      user: a.user,
      exchange: a.exchangeId,
      mode: a.mode,
      enabled: a.enabled,
      risk_pct: a.riskPct ?? null,
      paper_balance: a.paperBalance ?? null,
      key_vars: keyVars(a),
      keys_present: present,
      open_positions: open,
    };
  });
  if (values.json) return io.out(JSON.stringify(withKeys));
  io.out(table(withKeys.map((r) => ({
    name: r.name,
    user: r.user,
    exchange: r.exchange,
    mode: r.mode,
    enabled: r.enabled ? "yes" : "no",
    keys: `${
      r.keys_present ? "set" : r.mode === "paper" ? "not needed" : "MISSING"
    } (${r.key_vars})`,
    open_positions: r.open_positions,
  }))));
}

async function accountRows(db: Db) {
  const [accounts, open] = await Promise.all([listAccounts(db), openPositionCounts(db)]);
  return accounts.map((account) => ({ account, open: open.get(account.id) ?? 0 }));
}

/**
 * The default account as the environment describes it: its row follows EXCHANGE_ID and
 * EXCHANGE_MODE at the next start of serve, so that is what it trades with.
 */
export function asConfigured(config: Config, a: Account): Account {
  return a.id === DEFAULT_ACCOUNT_ID
    ? { ...a, exchangeId: config.exchange.id, mode: config.exchange.mode }
    : a;
}

/** Whether both of an account's key variables are set, whatever its mode. */
function keyVarsPresent(config: Config, a: Account): boolean {
  return missingKeys(config, { ...a, mode: "live" }).length === 0;
}
