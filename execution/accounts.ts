/**
 * Accounts (migration 0016): who trades, where and how. The default account (id 1) is the one
 * the single-account environment describes (EXCHANGE_ID, EXCHANGE_MODE, BROKER_API_KEY, …): its
 * exchange and mode follow that environment at every start. Any other account reads its keys
 * from `ACCOUNT_<NAME>_API_KEY` / `_API_SECRET` (and an optional `_API_URL`); the database keeps
 * only a fingerprint of the key in `api_keys`.
 */
import { createHash } from "node:crypto";
import { accountEnvName, type AccountKeys, accountVar, type Config } from "../core/config.ts";
import { ConfigError, UsageError } from "../core/errors.ts";
import type { Sql } from "../db/mod.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";

export const DEFAULT_ACCOUNT_ID = 1;
export const DEFAULT_ACCOUNT_NAME = "default";
export const ACCOUNT_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export type AccountMode = "paper" | "sandbox" | "live";

export interface Account {
  id: number;
  name: string;
  exchangeId: string;
  mode: AccountMode;
  /** Risk per trade in percent; undefined: RISK_PER_TRADE_PCT. */
  riskPct?: number;
  /** A paper account's initial deposit in the quote asset; undefined: PAPER_BALANCE. */
  paperBalance?: number;
  enabled: boolean;
  user: string | null;
}

interface AccountRow {
  id: string | number;
  name: string;
  exchange_id: string;
  mode: AccountMode;
  risk_pct: string | null;
  paper_balance: string | null;
  enabled: boolean;
  user_name: string | null;
}

const COLUMNS = `a.id, a.name, a.exchange_id, a.mode, a.risk_pct::text, a.paper_balance::text,
  a.enabled, u.name as user_name`;
const FROM = "accounts a left join users u on u.id = a.user_id";

function toAccount(r: AccountRow): Account {
  return {
    id: Number(r.id),
    name: r.name,
    exchangeId: r.exchange_id,
    mode: r.mode,
    riskPct: r.risk_pct === null ? undefined : Number(r.risk_pct),
    paperBalance: r.paper_balance === null ? undefined : Number(r.paper_balance),
    enabled: r.enabled,
    user: r.user_name,
  };
}

/** The ledger book of an account's legs: simulated fills never mix with real ones. */
export function ledgerBook(mode: AccountMode): "paper" | "main" {
  return mode === "paper" ? "paper" : "main";
}

/** "[alice] " for messages about an account other than the default one; "" otherwise. */
export function accountTag(account: Pick<Account, "id" | "name">): string {
  return account.id === DEFAULT_ACCOUNT_ID ? "" : `[${account.name}] `;
}

export async function listAccounts(sql: Sql): Promise<Account[]> {
  const rows = await sql.query<AccountRow>(`select ${COLUMNS} from ${FROM} order by a.id`);
  return rows.map(toAccount);
}

export async function accountById(sql: Sql, id: number): Promise<Account | undefined> {
  const [row] = await sql.query<AccountRow>(`select ${COLUMNS} from ${FROM} where a.id = $1`, [
    id,
  ]);
  return row ? toAccount(row) : undefined;
}

export async function accountByName(sql: Sql, name: string): Promise<Account | undefined> {
  const [row] = await sql.query<AccountRow>(`select ${COLUMNS} from ${FROM} where a.name = $1`, [
    name,
  ]);
  return row ? toAccount(row) : undefined;
}

/** The account named `name`, or a usage error that lists the accounts there are. */
export async function requireAccount(sql: Sql, name: string): Promise<Account> {
  const found = await accountByName(sql, name);
  if (found) return found;
  const names = (await listAccounts(sql)).map((a) => a.name);
  throw new UsageError(`No account named "${name}"; accounts: ${names.join(", ")}`);
}

export interface NewAccount {
  name: string;
  mode: AccountMode;
  exchangeId: string;
  user?: string;
  riskPct?: number;
  paperBalance?: number;
}

/** Adds an account (and its user, when named and new); a taken name is a usage error. */
export async function addAccount(
  sql: Sql,
  a: NewAccount,
): Promise<Account & { pausedWithAll?: string }> {
  if (!ACCOUNT_NAME.test(a.name)) {
    throw new UsageError(
      `Account name "${a.name}": expected 1–32 lower-case letters, digits, "_" or "-", starting with a letter`,
    );
  }
  if (await accountByName(sql, a.name)) {
    throw new UsageError(`An account named "${a.name}" already exists`);
  }
  // Both would read the same ACCOUNT_<NAME>_* variables: one exchange account traded twice.
  const twin = (await listAccounts(sql)).find((o) =>
    accountEnvName(o.name) === accountEnvName(a.name)
  );
  if (twin) {
    throw new UsageError(
      `Account name "${a.name}" reads the same variables (${
        accountVar(a.name, "API_KEY")
      }) as account "${twin.name}"; choose another name`,
    );
  }
  // One statement: the account and, when the operator has paused every enabled account (a
  // "pause" of all), its own pause, so an account added meanwhile does not trade on its own.
  const [row] = await sql.query<{ id: number; paused: string | null }>(
    `with u as (insert into users (name) select $5::text where $5::text is not null
                on conflict (name) do update set name = excluded.name returning id),
          n as (insert into accounts (name, mode, exchange_id, risk_pct, paper_balance, user_id)
                values ($1, $2, $3, $4, $6, (select id from u)) returning id),
          held as (select o.id, (select t.reason from trading_pauses t
                                  where t.account_id = o.id and t.kind = 'operator'
                                    and t.lifted_at is null
                                    and (t.until is null or t.until > now())
                                  order by t.created_at desc limit 1) as reason
                     from accounts o where o.enabled),
          p as (insert into trading_pauses (account_id, kind, reason, by_whom)
                select n.id, 'operator', (select reason from held limit 1), 'accounts add'
                  from n
                 where exists (select 1 from held)
                   and not exists (select 1 from held where reason is null)
                returning reason)
     select n.id, (select reason from p) as paused from n`,
    [a.name, a.mode, a.exchangeId, a.riskPct ?? null, a.user ?? null, a.paperBalance ?? null],
  );
  const account = (await accountById(sql, Number(row.id)))!;
  return row.paused === null ? account : { ...account, pausedWithAll: row.paused };
}

/**
 * Stops new entries of an account: it is no longer subscribed to new signals. Its open
 * positions and active orders are still watched and reconciled until they are closed.
 */
export async function disableAccount(sql: Sql, name: string): Promise<Account> {
  const account = await requireAccount(sql, name);
  if (account.id === DEFAULT_ACCOUNT_ID) {
    throw new UsageError(
      "The default account cannot be disabled: it is the one EXCHANGE_MODE and BROKER_API_KEY describe",
    );
  }
  await sql.query(
    `update accounts set enabled = false, disabled_at = coalesce(disabled_at, now()),
            updated_at = now() where id = $1`,
    [account.id],
  );
  return { ...account, enabled: false };
}

/**
 * Positions and orders of one mode must not be traded in another: live trading would sell
 * paper positions. The default account may switch mode once nothing of it is open or active;
 * then its exchange and mode follow the environment.
 */
export async function syncDefaultAccount(
  sql: Sql,
  exchange: { id: string; mode: AccountMode },
): Promise<void> {
  // What the default account still has open that the new exchange or mode does not hold: after
  // a switch of EXCHANGE_ID or EXCHANGE_MODE it would be watched, sold and reconciled through
  // them. What is open on the new exchange in the account's mode is held there (an older
  // version let EXCHANGE_ID change under it; a start back on that exchange goes ahead).
  const elsewhere = `(exchange_id <> $2 or a.mode <> $3)`;
  const [row] = await sql.query<
    { exchange_id: string; mode: string; positions: number; orders: number; venues: string }
  >(
    `select a.exchange_id, a.mode,
            (select count(*)::int from positions
              where account_id = a.id and status = 'OPEN' and ${elsewhere}) as positions,
            (select count(*)::int from orders
              where account_id = a.id and status in ${ACTIVE_ORDER_STATUSES_SQL}
                and ${elsewhere}) as orders,
            (select string_agg(distinct v.exchange_id, ', ' order by v.exchange_id) from (
               select exchange_id from positions
                where account_id = a.id and status = 'OPEN' and ${elsewhere}
               union all
               select exchange_id from orders
                where account_id = a.id and status in ${ACTIVE_ORDER_STATUSES_SQL}
                  and ${elsewhere}) v) as venues
       from accounts a where a.id = $1`,
    [DEFAULT_ACCOUNT_ID, exchange.id, exchange.mode],
  );
  const changed = row && (row.exchange_id !== exchange.id || row.mode !== exchange.mode);
  if (changed && (row.positions > 0 || row.orders > 0)) {
    const setting = row.exchange_id !== exchange.id
      ? `EXCHANGE_ID is ${exchange.id}${
        row.mode !== exchange.mode ? ` and EXCHANGE_MODE ${exchange.mode}` : ""
      }`
      : `EXCHANGE_MODE is ${exchange.mode}`;
    throw new ConfigError(
      `${setting} but this database holds ${row.positions} open position(s) and ` +
        `${row.orders} active order(s) on ${row.venues} from ${row.exchange_id} in ${row.mode} ` +
        `mode; close them with EXCHANGE_ID=${row.exchange_id} EXCHANGE_MODE=${row.mode} first, ` +
        `or use another database for ${exchange.id} in ${exchange.mode} mode`,
    );
  }
  await sql.query(
    `update accounts set exchange_id = $2, mode = $3, updated_at = now()
      where id = $1 and (exchange_id, mode) is distinct from ($2, $3)`,
    [DEFAULT_ACCOUNT_ID, exchange.id, exchange.mode],
  );
}

/** The keys an account trades with: the BROKER_* variables for the default account. */
export function keysOf(config: Pick<Config, "exchange" | "accountKeys">, account: Account) {
  if (account.id === DEFAULT_ACCOUNT_ID) {
    return {
      apiKey: config.exchange.apiKey,
      apiSecret: config.exchange.apiSecret,
      apiUrl: config.exchange.apiUrl,
    };
  }
  const own: AccountKeys = config.accountKeys[accountEnvName(account.name)] ?? {};
  return {
    apiKey: own.apiKey,
    apiSecret: own.apiSecret,
    apiUrl: own.apiUrl ?? config.exchange.apiUrl,
  };
}

/**
 * Which market data an account sees: accounts with the same key share prices. Paper accounts
 * read the live public data; a sandbox (testnet) and another API_URL are other markets.
 */
export function marketKeyOf(config: Pick<Config, "exchange" | "accountKeys">, account: Account) {
  const sandbox = account.mode === "sandbox";
  return {
    key: `${account.exchangeId}|${sandbox ? "sandbox" : "main"}|${
      keysOf(config, account).apiUrl ?? ""
    }`,
    exchangeId: account.exchangeId,
    sandbox,
    apiUrl: keysOf(config, account).apiUrl,
  };
}

/** What is missing for an account to trade, in words naming the variables; [] when nothing. */
export function missingKeys(config: Pick<Config, "exchange" | "accountKeys">, account: Account) {
  if (account.mode === "paper") return [];
  const keys = keysOf(config, account);
  if (keys.apiKey && keys.apiSecret) return [];
  return account.id === DEFAULT_ACCOUNT_ID
    ? ["BROKER_API_KEY and BROKER_API_SECRET are not set"]
    : [
      `${accountVar(account.name, "API_KEY")} and ${
        accountVar(account.name, "API_SECRET")
      } are not set`,
    ];
}

/** The fingerprint kept of a key: never the key, never reversible. */
export function keyFingerprint(apiKey: string): string {
  return createHash("sha256").update(apiKey, "utf8").digest("hex").slice(0, 16);
}

/** Records the fingerprint of the key an account trades with (a new key revokes the old one). */
export async function recordKeyFingerprint(
  sql: Sql,
  account: Account,
  apiKey: string,
): Promise<void> {
  const fingerprint = keyFingerprint(apiKey);
  // One key, one account: the same key on two accounts would trade one exchange account twice
  // for every signal, each sized from the same balance.
  const [other] = await sql.query<{ name: string }>(
    `select a.name from api_keys k join accounts a on a.id = k.account_id
      where k.exchange_id = $1 and k.fingerprint = $2 and k.revoked_at is null
        and k.account_id <> $3`,
    [account.exchangeId, fingerprint, account.id],
  );
  if (other) {
    throw new ConfigError(
      `Account ${account.name} has the same API key as account ${other.name}; each account ` +
        `needs its own exchange account and key`,
    );
  }
  await sql.query(
    "insert into exchanges (id, mode) values ($1, $2) on conflict (id) do nothing",
    [account.exchangeId, account.mode],
  );
  await sql.query(
    `update api_keys set revoked_at = now()
      where account_id = $1 and revoked_at is null and (exchange_id, fingerprint) <> ($2, $3)`,
    [account.id, account.exchangeId, fingerprint],
  );
  await sql.query(
    `insert into api_keys (account_id, exchange_id, label, fingerprint, user_id)
     values ($1, $2, $4, $3, (select user_id from accounts where id = $1))
     on conflict (exchange_id, fingerprint) do update set revoked_at = null,
       account_id = excluded.account_id`,
    [account.id, account.exchangeId, fingerprint, `${account.name} key`],
  );
}

/**
 * The accounts a strategy's signals are traded on: those subscribed and enabled, or the
 * default account alone when the strategy has no subscription.
 */
export async function targetsOf(
  sql: Sql,
  strategy: string,
  /** For a sell: its symbol. A disabled account still exits what it holds of it. */
  exitSymbol?: string,
): Promise<Account[]> {
  const holds = exitSymbol === undefined ? "false" : `exists (select 1 from positions p
      where p.account_id = a.id and p.symbol = $3 and p.status = 'OPEN' and p.qty > 0)`;
  const rows = await sql.query<AccountRow & { holds: boolean }>(
    `select ${COLUMNS}, ${holds} as holds
       from ${FROM}
      where a.id in (select account_id from strategy_accounts where strategy = $1)
         or (a.id = $2 and not exists (select 1 from strategy_accounts where strategy = $1))
      order by a.id`,
    exitSymbol === undefined
      ? [strategy, DEFAULT_ACCOUNT_ID]
      : [strategy, DEFAULT_ACCOUNT_ID, exitSymbol],
  );
  return rows.filter((r) => r.enabled || r.holds).map(toAccount);
}

/** Subscribes exactly these accounts to a strategy (an empty list: the default account). */
export async function setSubscriptions(sql: Sql, strategy: string, names: string[]) {
  const accounts: Account[] = [];
  for (const name of names) accounts.push(await requireAccount(sql, name));
  // One statement: the old subscriptions are replaced as a whole or not at all.
  await sql.query(
    `with gone as (delete from strategy_accounts where strategy = $1
                    and account_id <> all($2::int8[]))
     insert into strategy_accounts (strategy, account_id)
     select $1, unnest($2::int8[]) on conflict do nothing`,
    [strategy, accounts.map((a) => a.id)],
  );
  return accounts;
}

/** Names of the accounts subscribed to each strategy (strategies without any are absent). */
export async function subscriptions(sql: Sql): Promise<Map<string, string[]>> {
  const rows = await sql.query<{ strategy: string; name: string }>(
    `select s.strategy, a.name from strategy_accounts s join accounts a on a.id = s.account_id
      order by s.strategy, a.id`,
  );
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.strategy, [...(out.get(r.strategy) ?? []), r.name]);
  return out;
}

/** Open positions per account id (accounts without any are absent), for `accounts list`. */
export async function openPositionCounts(sql: Sql): Promise<Map<number, number>> {
  const rows = await sql.query<{ account_id: string | number; n: number }>(
    `select account_id, count(*)::int as n from positions where status = 'OPEN'
      group by account_id`,
  );
  return new Map(rows.map((r) => [Number(r.account_id), r.n]));
}
