import { errorMessage, UsageError } from "../core/errors.ts";
import type { Db } from "../db/mod.ts";
import { setSubscriptions, subscriptions } from "../execution/mod.ts";
import { listStrategyRows, STRATEGY_NAME, upsertStrategy } from "../signals/mod.ts";
import { isUnifiedSymbol } from "../trading/symbol.ts";
import { formatLadder, parseLadder } from "../trading/ladder.ts";
import { type Command, configure, numberFlag, parse, table, withDb } from "./common.ts";

const HELP = `Usage: pg-solo-lite strategies add <name> [options]
       pg-solo-lite strategies list [--json]

A strategy maps the "strategy" field of an alert to how it is traded. Alerts naming an unknown
or disabled strategy are refused (422) and reported. "add" on an existing name updates the
options given and leaves the others as they are.

Options of add (defaults for a new strategy in brackets):
  --symbols A,B           unified symbols allowed, e.g. BTC/USDT,ETH/USDT [any]
  --risk-pct N            equity risked per trade, 0-3 [1]
  --stop-pct N            stop distance from the price when an alert has no sl [2]
  --take-profit-pct N     target distance from the price when an alert has no tp [4]
  --confidence-min N      alerts with a lower confidence (0-1) are refused [0]
  --max-notional N        largest order value in the quote currency [no limit]
  --qty-policy cap|trust  an alert's qty: "cap" trades at most the size the risk rule gives,
                          "trust" trades it as given (within the cash and --max-notional) [cap]
  --trail-pct N           trailing stop: the stop follows the highest price since entry this
                          far (%, above 0, below 100) below it, only ever up; "none" removes it
                          (an alert's trail_pct wins) [none]
  --trail-activation-pct N  the stop trails once the price is this far (%) above the entry;
                          given with --trail-pct [0]
  --tp-ladder PCT:SHARE,… a laddered take-profit instead of the single target: "4:50,8:50" sells
                          50 % at +4 % and the rest at +8 %, then moves the stop to break even;
                          "none" goes back to the single target [none]
  --disabled              refuse alerts for it (add again without the flag to enable)
  --accounts A,B          the accounts that trade its alerts, exactly these (see: accounts list);
                          "default" alone goes back to the default account [default]

An alert of a strategy subscribed by several accounts becomes one order per enabled account,
each sized from that account's own balance and risk. Without --accounts, "add" leaves the
subscriptions as they are.

Examples:
  pg-solo-lite strategies add trend
  pg-solo-lite strategies add breakout --symbols BTC/USDT --stop-pct 1.5 --confidence-min 0.6
  pg-solo-lite strategies add trend --accounts alice,bob
  pg-solo-lite strategies add swing --trail-pct 2 --trail-activation-pct 1
  pg-solo-lite strategies add trend --tp-ladder "4:50,8:50"`;

/** A number flag as the text of its column (numeric). */
function number(flag: string, raw: string | undefined, ok: (n: number) => boolean, range: string) {
  const n = numberFlag(flag, raw, ok, range);
  return n === undefined ? undefined : String(n);
}

const command: Command = {
  name: "strategies",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parse("strategies", args, {
      symbols: { type: "string" },
      "risk-pct": { type: "string" },
      "stop-pct": { type: "string" },
      "take-profit-pct": { type: "string" },
      "confidence-min": { type: "string" },
      "max-notional": { type: "string" },
      "qty-policy": { type: "string" },
      "trail-pct": { type: "string" },
      "trail-activation-pct": { type: "string" },
      "tp-ladder": { type: "string" },
      disabled: { type: "boolean" },
      accounts: { type: "string" },
      json: { type: "boolean" },
    }, { min: 1, max: 2 });
    const [action, name] = positionals;
    if (action === "list") {
      if (name !== undefined) throw new UsageError(`Unexpected argument "${name}"; see --help`);
      const config = configure(io);
      const rows = await withDb(config, listStrategies);
      io.out(values.json ? JSON.stringify(rows) : table(rows));
      return;
    }
    if (action !== "add") {
      throw new UsageError(`Unknown action "${action}"; use: strategies add <name> | list`);
    }
    if (!name || !STRATEGY_NAME.test(name)) {
      throw new UsageError(
        `Strategy name "${name ?? ""}" is not valid; use 1-64 letters, digits, _ . or -`,
      );
    }
    const symbols = values.symbols?.split(",").map((s) => s.trim().toUpperCase()).filter(Boolean);
    const bad = symbols?.find((s) => !isUnifiedSymbol(s));
    if (bad) throw new UsageError(`--symbols "${bad}" is not a unified symbol like BTC/USDT`);
    const fields: Record<string, unknown> = {
      symbols,
      risk_pct: number("risk-pct", values["risk-pct"], (n) => n > 0 && n <= 3, "above 0, up to 3"),
      stop_pct: number("stop-pct", values["stop-pct"], (n) => n > 0 && n < 100, "from 0 to 100"),
      take_profit_pct: number(
        "take-profit-pct",
        values["take-profit-pct"],
        (n) => n > 0,
        "above 0",
      ),
      confidence_min: number(
        "confidence-min",
        values["confidence-min"],
        (n) => n >= 0 && n <= 1,
        "from 0 to 1",
      ),
      max_notional: number("max-notional", values["max-notional"], (n) => n > 0, "above 0"),
      qty_policy: qtyPolicy(values["qty-policy"]),
      ...trail(values["trail-pct"], values["trail-activation-pct"]),
      tp_ladder: tpLadder(values["tp-ladder"]),
      enabled: !values.disabled,
    };
    const accounts = accountNames(values.accounts);
    const config = configure(io);
    await withDb(config, async (db) => {
      // One transaction: an unknown account name changes neither the strategy nor its accounts.
      const { created, disabled } = await db.transaction(async (tx) => {
        const created = await upsertStrategy(tx, name, fields);
        const subscribed = accounts ? await setSubscriptions(tx, name, accounts) : [];
        return { created, disabled: subscribed.filter((a) => !a.enabled).map((a) => a.name) };
      });
      io.out(`${created ? "Added" : "Updated"} strategy ${name}`);
      if (disabled.length > 0) {
        io.out(`  Disabled account(s) ${disabled.join(", ")} take no new entries from it`);
      }
      io.out(table((await listStrategies(db)).filter((r) => r.name === name)));
    });
  },
};
export default command;

function qtyPolicy(raw: string | undefined): "cap" | "trust" | undefined {
  if (raw === undefined) return undefined;
  if (raw === "cap" || raw === "trust") return raw;
  throw new UsageError(`--qty-policy "${raw}" is not a policy; use cap or trust`);
}

/**
 * The trail columns of --trail-pct and --trail-activation-pct: "none" clears the trail (and its
 * activation); an activation alone is refused, it means nothing without a trail.
 */
function trail(pct: string | undefined, activation: string | undefined) {
  if (activation !== undefined && (pct === undefined || pct.trim() === "none")) {
    throw new UsageError("--trail-activation-pct needs --trail-pct N in the same command");
  }
  if (pct?.trim() === "none") return { trail_pct: null, trail_activation_pct: "0" };
  return {
    trail_pct: number("trail-pct", pct, (n) => n > 0 && n < 100, "above 0 and below 100"),
    trail_activation_pct: number(
      "trail-activation-pct",
      activation ?? (pct === undefined ? undefined : "0"),
      (n) => n >= 0,
      "from 0 up",
    ),
  };
}

/** --tp-ladder as stored (jsonb text); "none" clears it; parseLadder's errors are usage errors. */
function tpLadder(raw: string | undefined): string | null | undefined {
  if (raw === undefined) return undefined;
  if (raw.trim().toLowerCase() === "none") return null;
  try {
    return JSON.stringify(parseLadder(raw));
  } catch (error) {
    throw new UsageError(`--tp-ladder: ${errorMessage(error)}`);
  }
}

/** The names of --accounts, deduplicated; undefined when the flag is not given. */
function accountNames(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const names = [...new Set(raw.split(",").map((s) => s.trim()).filter(Boolean))];
  if (names.length === 0) {
    throw new UsageError(
      '--accounts is empty; name one or more accounts (see: accounts list), or "default"',
    );
  }
  return names;
}

/**
 * The rows as `strategies list` prints them: no symbols reads "any", no cap reads "", no
 * subscription reads "default" (the default account trades it).
 */
async function listStrategies(db: Db) {
  const subs = await subscriptions(db);
  return (await listStrategyRows(db)).map((r) => ({
    name: r.name,
    enabled: r.enabled,
    accounts: subs.get(r.name)?.join(",") ?? "default",
    symbols: r.symbols === null ? "any" : r.symbols.join(","),
    risk_pct: r.risk_pct,
    stop_pct: r.stop_pct,
    take_profit_pct: r.take_profit_pct,
    confidence_min: r.confidence_min,
    max_notional: r.max_notional ?? "",
    qty_policy: r.qty_policy,
    trail_pct: r.trail_pct ?? "",
    trail_activation_pct: r.trail_pct === null ? "" : r.trail_activation_pct,
    tp_ladder: r.tp_ladder ? formatLadder(r.tp_ladder) : "",
  }));
}
