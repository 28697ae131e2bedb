/**
 * The Telegram control bot: a grammY `Bot` with the commands registered (and the following of a
 * group upgraded to a supergroup), and its long polling.
 * Loaded only when TELEGRAM_BOT_TOKEN and TELEGRAM_ADMIN_IDS are set (component.ts).
 */
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { Api, Bot } from "grammy";
import { type Clock, systemClock } from "../core/clock.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import type { Db } from "../db/mod.ts";
import type { PriceOf } from "./views.ts";
import { adminAccess } from "./telegram_access.ts";
import { type ControlActions, registerCommands } from "./telegram_commands.ts";
import { registerChatMigration } from "./telegram_migration.ts";
import { type PollProblem, pollUpdates, type UpdateMarks } from "./telegram_poller.ts";

export interface ControlBotOptions {
  token: string;
  /** TELEGRAM_API_URL; Telegram's own without it. */
  apiUrl?: string;
  adminIds: readonly number[];
  db: Db;
  clock: Clock;
  log: Log;
  actions: ControlActions;
  price?: PriceOf;
  onProblem(problem: PollProblem | undefined, detail: string): Promise<void>;
}

/** Starts polling; the returned promise of `stopped` resolves once `signal` aborted it. */
export function startControlBot(o: ControlBotOptions, signal: AbortSignal): Promise<void> {
  const apiRoot = (o.apiUrl ?? "https://api.telegram.org").replace(/\/+$/, "");
  // No keep-alive, as in notify/telegram.ts: Deno's node:http re-sends a cancelled request on
  // a reused connection (denoland/deno#36786), which for a reply means saying it twice.
  const agent = () =>
    apiRoot.startsWith("https:")
      ? new HttpsAgent({ keepAlive: false })
      : new HttpAgent({ keepAlive: false });
  // Replies get a short timeout (a late answer is worthless); getUpdates waits up to
  // controlPollTimeoutS for an update, so its client allows for that.
  const bot = new Bot(o.token, {
    client: {
      apiRoot,
      timeoutSeconds: limits.controlReplyTimeoutS,
      baseFetchConfig: { agent: agent() },
    },
  });
  const api = new Api(o.token, {
    apiRoot,
    timeoutSeconds: limits.controlPollTimeoutS + limits.controlReplyTimeoutS,
    baseFetchConfig: { agent: agent() },
  });
  const commands = registerCommands(bot, {
    db: o.db,
    clock: o.clock,
    log: o.log,
    access: adminAccess(o.adminIds, o.clock),
    actions: o.actions,
    price: o.price,
  });
  registerChatMigration(bot, { db: o.db, log: o.log });
  // Waits between polls are real time whatever clock the commands are given.
  return pollUpdates({
    bot,
    api,
    clock: systemClock,
    log: o.log,
    signal,
    onProblem: o.onProblem,
    beforeConfirm: () => commands.drain(),
    marks: dbUpdateMarks(o.db),
  });
}

/** The last handled update per bot, in `telegram_update_marks` (migration 0027). */
export function dbUpdateMarks(db: Db): UpdateMarks {
  return {
    async load(botId) {
      const [row] = await db.query<{ id: string; at: Date }>(
        `select last_update_id::text as id, updated_at as at from telegram_update_marks
          where bot_id = $1`,
        [botId],
      );
      return row ? { updateId: Number(row.id), at: new Date(row.at) } : undefined;
    },
    async save(botId, updateId) {
      await db.query(
        `insert into telegram_update_marks as m (bot_id, last_update_id) values ($1, $2)
         on conflict (bot_id) do update
           set last_update_id = excluded.last_update_id, updated_at = now()`,
        [botId, updateId],
      );
    },
  };
}
