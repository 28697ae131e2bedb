/**
 * The Telegram control part of `serve`: the bot polls for the operator's commands when
 * TELEGRAM_BOT_TOKEN and TELEGRAM_ADMIN_IDS are set. A conflicting webhook or a second poller
 * on the same token is one CRITICAL through the outbox (at most once an hour) and a log line;
 * polling goes on with backoff and never stops the service.
 */
import type { Clock } from "../core/clock.ts";
import { errorMessage } from "../core/errors.ts";
import { logger } from "../core/log.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import type { Component, ComponentFactory, ServiceContext } from "../runtime/mod.ts";
import type { ControlActions } from "./telegram_commands.ts";
import { cancelOrder, exitPosition, exitTargets, pauseTrading, resumeTrading } from "./actions.ts";
import {
  balanceText,
  dailyText,
  ordersText,
  positionsText,
  type PriceOf,
  profitText,
  statusText,
} from "./views.ts";

/** The control core, as the bot calls it. */
const coreActions: ControlActions = {
  pauseTrading,
  resumeTrading,
  exitTargets,
  exitPosition,
  cancelOrder,
  statusText,
  positionsText,
  ordersText,
  balanceText,
  profitText,
  dailyText,
};
import type { PollProblem } from "./telegram_poller.ts";

const HOUR_MS = 3_600_000;

const PROBLEM_TEXT: Record<PollProblem, string> = {
  webhook: "a webhook is set for this bot, and Telegram does not give updates to a poller " +
    "while one is. Remove it (Bot API deleteWebhook) if nothing else should receive them, or " +
    "give this service a bot token of its own.",
  poller: "another program is polling this bot's updates (a second serve, or another bot " +
    "using the same token). Stop it, or give each one its own bot token.",
  unauthorized: "Telegram refuses the bot token (401). Check TELEGRAM_BOT_TOKEN.",
};

export interface TelegramControlOptions {
  /** The clock of the commands (confirmation expiry, /profit's "today"); the service's by default. */
  clock?: Clock;
  /** The control core's functions (tests may wrap them); the real ones by default. */
  actions?: ControlActions;
}

export function telegramControlComponent(options: TelegramControlOptions = {}): ComponentFactory {
  return async (ctx) => await build(ctx, options);
}

function build(ctx: ServiceContext, options: TelegramControlOptions): Promise<Component> {
  const { config } = ctx;
  const token = config.telegram.botToken;
  const adminIds = config.telegram.adminIds;
  const off = (why: string): Promise<Component> =>
    Promise.resolve({ name: "telegram-control", describe: () => `off: ${why}` });
  if (!token) return off("TELEGRAM_BOT_TOKEN is not set");
  if (adminIds.length === 0) {
    return off(
      "TELEGRAM_ADMIN_IDS is not set, so nobody may command the bot (set it to the " +
        "Telegram user ids allowed to)",
    );
  }
  const log = logger("control", "telegram");
  const clock = options.clock ?? ctx.clock;
  const controller = new AbortController();
  const signal = AbortSignal.any([ctx.signal, controller.signal]);
  let stopped: Promise<void> | undefined;
  const onProblem = async (problem: PollProblem | undefined, detail: string) => {
    const hour = Math.floor(clock.now().getTime() / HOUR_MS);
    const n = problem
      ? {
        severity: "CRITICAL" as const,
        kind: NotificationKind.telegramPollConflict,
        text: `Telegram commands are not received: ${PROBLEM_TEXT[problem]} (${detail}). ` +
          "Retrying with backoff.",
        dedupeKey: `telegram_poll:${problem}:${hour}`,
      }
      : {
        severity: "INFO" as const,
        kind: NotificationKind.telegramPollRecovered,
        text: "Telegram commands are received again.",
        dedupeKey: `telegram_poll:ok:${hour}`,
      };
    // The unauthorized case cannot reach Telegram either; the outbox keeps it for later.
    await enqueueNotification(ctx.db, n).catch((error) =>
      log.error("Cannot queue the Telegram polling notice: {error}", {
        error: errorMessage(error),
      })
    );
  };
  return Promise.resolve({
    name: "telegram-control",
    async start() {
      // grammY is loaded only when the bot runs.
      const { startControlBot } = await import("./telegram_bot.ts");
      // Unrealized PnL at the service's own last price on its configured exchange; a position
      // on another exchange (or a failed lookup) is shown without one.
      const price: PriceOf = async (exchangeId, symbol) =>
        exchangeId === config.exchange.id
          ? (await (await ctx.exchange.get()).fetchTicker(symbol)).last
          : undefined;
      stopped = startControlBot({
        token,
        apiUrl: config.telegram.apiUrl,
        adminIds,
        db: ctx.db,
        clock,
        log,
        actions: options.actions ?? coreActions,
        price,
        onProblem,
      }, signal).catch((error) =>
        log.error("Telegram control stopped: {error}", { error: errorMessage(error) })
      );
    },
    async stop() {
      controller.abort();
      await stopped;
    },
    describe: () =>
      `polling Telegram for commands from ${adminIds.length} admin user id${
        adminIds.length === 1 ? "" : "s"
      }${config.telegram.apiUrl ? ` at ${config.telegram.apiUrl}` : ""}`,
  });
}
