/**
 * The operator's commands on Telegram, as grammY handlers: each one checks the sender against
 * TELEGRAM_ADMIN_IDS, calls the control core (which records and announces every action) and
 * replies in plain text. /exit only asks: the sale happens when its "Confirm exit" button is
 * pressed (telegram_exit.ts). In a chat tied to an account the reads show that account alone
 * and the rest is refused (telegram_scope.ts).
 */
import { UsageError } from "../core/errors.ts";
import type { Bot, CommandContext, Context } from "grammy";
import type { Clock } from "../core/clock.ts";
import { errorMessage } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import { redactText } from "../core/redact.ts";
import type { Db } from "../db/mod.ts";
import type * as core from "./mod.ts";
import { type Access, NOT_ALLOWED_TEXT } from "./telegram_access.ts";
import { askExitConfirmation, onExitPress } from "./telegram_exit.ts";
import { replyPlain, withOneRetry } from "./telegram_reply.ts";
import { chatScope, operatorOnlyText } from "./telegram_scope.ts";
import type { ViewScope } from "./views.ts";

/** What the bot calls in the control core; tests may count or replace the calls. */
export type ControlActions = Pick<
  typeof core,
  | "pauseTrading"
  | "resumeTrading"
  | "exitTargets"
  | "exitPosition"
  | "cancelOrder"
  | "statusText"
  | "positionsText"
  | "ordersText"
  | "balanceText"
  | "profitText"
  | "dailyText"
>;

export interface CommandDeps {
  db: Db;
  clock: Clock;
  log: Log;
  access: Access;
  actions: ControlActions;
  /** Last prices for unrealized PnL (the service's market data); stored candles without it. */
  price?: core.PriceOf;
}

/** Orders /orders lists without a count, as the CLI does. */
const ORDERS_DEFAULT = 30;

/** `scope`: whose data a read may show (one account in that account's chat). */
type Run = (
  ctx: CommandContext<Context>,
  arg: string,
  actor: core.Actor,
  scope: ViewScope,
) => Promise<void>;

type Command =
  & {
    usage: string;
    help: string;
    run: Run;
  }
  & (
    | {
      /**
       * Reads only (status, lists): answered in a lane of their own beside the polling, so a
       * slow answer (prices from an exchange that stalls) never holds up a /pause, /resume,
       * /exit or /cancel sent after it. Commands that change something run one at a time, in
       * the order they were sent; reads too, among themselves. Only reads are answered in a
       * chat tied to an account, and they must show nothing beyond `scope`.
       */
      readOnly: true;
    }
    | {
      readOnly?: undefined;
      /** The same on the command line, for `account`: named where this command is refused. */
      cli(account: string): string;
    }
  );

// Longer than ~70 lines: one table of the commands, each entry a few lines.
function commandTable(deps: CommandDeps): Record<string, Command> {
  const { db, clock, log, actions, price } = deps;
  const say = (ctx: Context, text: string) => replyPlain(ctx, log, text).then(() => {});
  const text =
    (read: (scope: ViewScope) => Promise<string>): Run => async (ctx, _arg, _actor, scope) =>
      say(ctx, await read(scope));
  return {
    status: {
      readOnly: true,
      usage: "/status",
      help: "mode, paused or not, open positions with PnL, protections",
      run: text((scope) => actions.statusText(db, { ...scope, now: clock.now(), price })),
    },
    positions: {
      readOnly: true,
      usage: "/positions",
      help: "open positions",
      run: text((scope) => actions.positionsText(db, { ...scope, now: clock.now(), price })),
    },
    orders: {
      readOnly: true,
      usage: "/orders [count]",
      help:
        `active orders, then the latest (${ORDERS_DEFAULT} by default, at most ${limits.controlOrdersShownMax})`,
      run: async (ctx, arg, _actor, scope) => {
        if (arg !== "" && !/^\d{1,6}$/.test(arg)) {
          return say(ctx, "Usage: /orders [count], e.g. /orders 100");
        }
        const limit = Math.min(Number(arg || ORDERS_DEFAULT), limits.controlOrdersShownMax);
        await say(ctx, await actions.ordersText(db, { ...scope, limit: Math.max(1, limit) }));
      },
    },
    balance: {
      readOnly: true,
      usage: "/balance",
      help: "balances",
      run: text((scope) => actions.balanceText(db, scope)),
    },
    profit: {
      readOnly: true,
      usage: "/profit",
      help: "realized and unrealized PnL: today, 7 days, all",
      run: text((scope) => actions.profitText(db, clock.now(), { ...scope, price })),
    },
    daily: {
      readOnly: true,
      usage: "/daily",
      help: "PnL per day",
      run: text((scope) => actions.dailyText(db, clock.now(), scope)),
    },
    pause: {
      usage: "/pause [account:NAME] [reason]",
      help: "no new entries (exits and protections keep working); every account, or one",
      cli: (account) => `pg-solo-lite pause --account ${account}`,
      run: async (ctx, arg, actor) => {
        const m = /^account:(\S+)\s*(.*)$/s.exec(arg.trim());
        const o = m ? { account: m[1], reason: m[2] || undefined } : { reason: arg || undefined };
        await say(ctx, await orUsage(() => actions.pauseTrading(db, actor, o, clock)));
      },
    },
    resume: {
      usage: "/resume [account]",
      help: "allow new entries again: every account, or the one named",
      cli: (account) => `pg-solo-lite resume --account ${account}`,
      run: async (ctx, arg, actor) => {
        // "account:alice" as /pause takes it is alice too (no account name holds a colon);
        // "account:" alone names none, and must not lift every pause.
        const named = /^account:(.*)$/s.exec(arg.trim());
        if (named && named[1].trim() === "") {
          return say(ctx, "Usage: /resume [account], e.g. /resume alice");
        }
        const account = (named ? named[1] : arg).trim() || undefined;
        await say(ctx, await orUsage(() => actions.resumeTrading(db, actor, { account }, clock)));
      },
    },
    exit: {
      usage: "/exit <symbol|position id>",
      help: "sell a position at market, after a confirmation",
      cli: (account) => `pg-solo-lite exit <symbol|position id> --account ${account}`,
      run: (ctx, arg) => askExitConfirmation(ctx, arg, deps),
    },
    cancel: {
      usage: "/cancel <order id>",
      help: "cancel an open order",
      cli: () => "pg-solo-lite cancel <order id>",
      run: async (ctx, arg, actor) => {
        if (!/^\d{1,15}$/.test(arg)) return say(ctx, "Usage: /cancel <order id>, e.g. /cancel 42");
        await say(ctx, (await actions.cancelOrder(db, actor, Number(arg))).text);
      },
    },
    help: {
      readOnly: true,
      usage: "/help",
      help: "this list",
      run: async (ctx, _arg, _actor, scope) => await say(ctx, helpText(scope)),
    },
  };

  function helpText(scope: ViewScope): string {
    const commands = Object.values(commandTable(deps));
    if (scope.accountId === undefined) {
      return [
        "Commands (only for the user ids in TELEGRAM_ADMIN_IDS):",
        ...commands.map((c) => `${c.usage} - ${c.help}`),
      ].join("\n");
    }
    const changes = commands.filter((c) => !c.readOnly).map((c) => c.usage.split(" ")[0]);
    return [
      "This chat is tied to one account: the commands show that account alone.",
      "Commands (only for the user ids in TELEGRAM_ADMIN_IDS):",
      ...commands.filter((c) => c.readOnly).map((c) => `${c.usage} - ${c.help}`),
      `${changes.join(", ")}: only in an operator chat (one not tied to an account)`,
    ].join("\n");
  }
}

/** Registers the commands and the confirmation button on `bot`. */
export function registerCommands(bot: Bot, deps: CommandDeps): { drain(): Promise<void> } {
  const { db, log, access, clock } = deps;
  const table = commandTable(deps);
  let readLane: Promise<void> = Promise.resolve();
  let readsQueued = 0;
  bot.command(Object.keys(table), async (ctx) => {
    const userId = ctx.from?.id;
    const name = commandName(ctx);
    if (!access.isAdmin(userId)) return refuse(ctx, userId, `/${name}`);
    const ageMs = clock.now().getTime() - (ctx.message?.date ?? 0) * 1000;
    if (ageMs > limits.controlCommandMaxAgeMs) {
      log.info("Ignored /{name} from {userId}: sent {ageS} s ago, while the service was down", {
        name,
        userId,
        ageS: Math.round(ageMs / 1000),
      });
      await replyPlain(
        ctx,
        log,
        `Not done: /${name} was sent ${Math.round(ageMs / 60_000)} min ago, while the ` +
          "service was not running. Send it again if it still applies.",
      );
      return;
    }
    const actor: core.Actor = { via: "telegram", who: String(userId) };
    log.info("Telegram command /{name} from {userId} in chat {chatId}", {
      name,
      userId,
      chatId: ctx.chat.id,
    });
    const command = table[name];
    const run = async () => {
      try {
        // Looked up for each command: a chat tied or untied since is answered as it is now.
        const scope = await chatScope(db, ctx.chat.id);
        if (scope.account && !command.readOnly) {
          const account = scope.account.name;
          return await refuseHere(ctx, `/${name}`, account, command.cli(account));
        }
        await command.run(ctx, ctx.match.trim(), actor, { accountId: scope.account?.id });
      } catch (error) {
        const message = redactText(errorMessage(error));
        log.error("Telegram command /{name} from {userId} failed: {error}", {
          name,
          userId,
          error: message,
        });
        await replyPlain(ctx, log, `/${name} failed: ${message}`);
      }
    };
    if (!command.readOnly) return await run();
    // Reads go in their own lane, in the order they came, beside the polling: a command that
    // changes something is handled as soon as it arrives. Past the lane's bound a read is
    // answered "busy" rather than queued, so nothing ever waits for a queue of reads.
    if (readsQueued >= limits.controlReadsQueuedMax) {
      return await replyPlain(
        ctx,
        log,
        `Busy: ${readsQueued} requests are waiting for their answer (prices are slow); send ` +
          `/${name} again in a moment`,
      ).then(() => {});
    }
    readsQueued++;
    readLane = readLane.then(run).catch(() => {}).finally(() => readsQueued--);
  });
  bot.on("callback_query:data", async (ctx) => {
    const userId = ctx.from.id;
    if (!access.isAdmin(userId)) {
      // Answered so that the client stops waiting; the answer says nothing else.
      await withOneRetry(() => ctx.answerCallbackQuery({ text: NOT_ALLOWED_TEXT })).catch(() => {});
      return refuse(ctx, userId, "a button press", false);
    }
    await onExitPress(ctx, deps);
  });

  async function refuseHere(ctx: Context, command: string, account: string, cli: string) {
    log.info("Refused {command} in Telegram chat {chatId}: it is tied to account {account}", {
      command,
      chatId: ctx.chat?.id,
      account,
    });
    await replyPlain(ctx, log, operatorOnlyText(command, account, cli));
  }

  async function refuse(ctx: Context, userId: number | undefined, what: string, reply = true) {
    if (userId === undefined) return; // A channel post: no user to answer.
    if (!access.refuse(userId)) {
      log.debug("Refused {what} from user {userId} again (already told this hour)", {
        what,
        userId,
      });
      return;
    }
    log.warn(
      "Refused {what} from Telegram user {userId} in chat {chatId}: not in TELEGRAM_ADMIN_IDS",
      { what, userId, chatId: ctx.chat?.id },
    );
    if (reply) await replyPlain(ctx, log, NOT_ALLOWED_TEXT);
  }

  return {
    /** The reads still queued answered, for at most the time of one reply more (at stop). */
    async drain() {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(
          resolve,
          limits.controlPriceTimeoutMs + limits.controlReplyTimeoutS * 1000,
        );
      });
      await Promise.race([readLane, bound]).finally(() => clearTimeout(timer));
    },
  };
}

/**
 * The command grammY matched: the bot_command entity at the start, without its @bot_username.
 * Telegram ends the entity at the first character that cannot be in a command name, so
 * "/status," or "/pause-all" is /status or /pause (the rest is the argument), not a name
 * that no command has.
 */
function commandName(ctx: CommandContext<Context>): string {
  const text = ctx.message?.text ?? "";
  const entity = ctx.message?.entities?.find((e) => e.type === "bot_command" && e.offset === 0);
  return text.slice(1, entity?.length ?? 1).split("@")[0];
}

/** The action's answer, or the reason it could not be taken (an unknown account, say). */
async function orUsage(fn: () => Promise<{ text: string }>): Promise<string> {
  try {
    return (await fn()).text;
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
}
