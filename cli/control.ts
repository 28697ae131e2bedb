/**
 * The operator's control from the command line: the same actions as Telegram's /pause,
 * /resume, /exit, /cancel and /status, on the same database state, so they work whether or not
 * `serve` runs (it carries out exits and cancels when it does) and survive restarts.
 */
import { RuntimeError, UsageError } from "../core/errors.ts";
import {
  type ActionResult,
  type Actor,
  cancelOrder,
  exitPosition,
  exitTargets,
  pauseTrading,
  resumeTrading,
  statusText,
} from "../control/mod.ts";
import { activePauses, listAccounts } from "../execution/mod.ts";
import { type Command, configure, type Io, parse, withDb } from "./common.ts";

const actor = (io: Io): Actor => ({ via: "cli", who: io.env.USER || io.env.LOGNAME || "cli" });

/** Prints the answer; an action that did nothing is exit code 1 with its reason. */
function answer(io: Io, r: ActionResult): void {
  if (!r.ok) throw new RuntimeError(r.text);
  io.out(r.text);
}

export const pause: Command = {
  name: "pause",
  help: `Usage: pg-solo-lite pause [--reason R] [--account NAME]

Stops new entries on every account (or one): buy signals are still accepted and stored, and
refused with the reason on the alert; exits, stops and targets keep working. The pause lives
in the database: it survives restarts and holds for serve, Telegram and the CLI alike, until
resume.

Examples:
  pg-solo-lite pause --reason "exchange incident"
  pg-solo-lite pause --account alice`,
  async run(args, io) {
    const { values } = parse("pause", args, {
      reason: { type: "string" },
      account: { type: "string" },
    }, { max: 0 });
    const config = configure(io, { logLevel: "error" });
    const r = await withDb(
      config,
      (db) => pauseTrading(db, actor(io), { account: values.account, reason: values.reason }),
    );
    answer(io, r);
  },
};

export const resume: Command = {
  name: "resume",
  help: `Usage: pg-solo-lite resume [--account NAME]

Lifts every pause of every account (or one): the operator's and those a protection set (the
daily loss limit, the drawdown lock). New entries are traded again from the next signal.`,
  async run(args, io) {
    const { values } = parse("resume", args, { account: { type: "string" } }, { max: 0 });
    const config = configure(io, { logLevel: "error" });
    answer(
      io,
      await withDb(config, (db) => resumeTrading(db, actor(io), { account: values.account })),
    );
  },
};

export const exit: Command = {
  name: "exit",
  help: `Usage: pg-solo-lite exit <symbol|position id> [--account NAME] [--yes]

Sells a whole open position at market (a symbol: its position on every account, or on one
with --account). Shows what would be sold and asks for confirmation; --yes skips the
question (needed when standard input is not a terminal). Each position is exited once: asking
again while its exit is under way does nothing. serve carries the exit out.

Examples:
  pg-solo-lite exit BTC/USDT
  pg-solo-lite exit 42 --yes`,
  async run(args, io) {
    const { values, positionals } = parse("exit", args, {
      account: { type: "string" },
      yes: { type: "boolean" },
    }, { min: 1, max: 1 });
    const config = configure(io, { logLevel: "error" });
    await withDb(config, async (db) => {
      const targets = (await exitTargets(db, positionals[0])).filter((t) =>
        !values.account || t.account === values.account
      );
      if (targets.length === 0) {
        throw new RuntimeError(`No open position matches "${positionals[0]}"`);
      }
      for (const t of targets) io.out(`Would ${t.text}`);
      if (!values.yes) {
        if (!Deno.stdin.isTerminal()) {
          throw new UsageError("Not confirmed: run again with --yes to sell");
        }
        if (!confirm("Sell at market?")) throw new RuntimeError("Not confirmed; nothing sold");
      }
      let failed: string | undefined;
      for (const t of targets) {
        const r = await exitPosition(db, actor(io), t.positionId, t.openedAtMs);
        if (r.ok) io.out(r.text);
        else failed ??= r.text;
      }
      if (failed) throw new RuntimeError(failed);
    });
  },
};

export const cancel: Command = {
  name: "cancel",
  help: `Usage: pg-solo-lite cancel <order id>

Asks serve to cancel an active order (the id of orders list) on its account's exchange; the
order is settled CANCELED (or FILLED, if it filled first) from the exchange's answer.`,
  async run(args, io) {
    const { positionals } = parse("cancel", args, {}, { min: 1, max: 1 });
    if (!/^\d+$/.test(positionals[0])) {
      throw new UsageError(`Order id "${positionals[0]}" is not a number; see orders list`);
    }
    const config = configure(io, { logLevel: "error" });
    answer(io, await withDb(config, (db) => cancelOrder(db, actor(io), Number(positionals[0]))));
  },
};

export const status: Command = {
  name: "status",
  help: `Usage: pg-solo-lite status [--json]

The accounts (mode, exchange, paused or not and why), the open positions with their PnL at the
latest stored price, and how they are protected.`,
  async run(args, io) {
    const { values } = parse("status", args, { json: { type: "boolean" } }, { max: 0 });
    const config = configure(io, { logLevel: "error" });
    await withDb(config, async (db) => {
      if (!values.json) return io.out(await statusText(db));
      const now = new Date();
      const pauses = await activePauses(db, now);
      const accounts = (await listAccounts(db)).map((a) => ({
        name: a.name,
        mode: a.mode,
        exchange: a.exchangeId,
        enabled: a.enabled,
        paused: pauses.filter((p) => p.accountId === a.id).map((p) => ({
          kind: p.kind,
          reason: p.reason,
          by: p.byWhom,
          until: p.until,
        })),
      }));
      const positions = await db.query(
        `select p.id, a.name as account, p.symbol, p.qty::text, p.avg_entry_price::text as avg_entry,
                p.stop_price::text as stop, p.take_profit_price::text as take_profit, p.opened_at
           from positions p join accounts a on a.id = p.account_id
          where p.status = 'OPEN' and p.qty > 0 order by p.id`,
      );
      io.out(JSON.stringify({ accounts, positions }));
    });
  },
};
