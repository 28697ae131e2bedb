/**
 * A running service with the Telegram control bot, the fake Bot API and the fake exchange (live
 * mode through ccxt), for the control tests. Commands are sent as updates; a reply is read by
 * sending a barrier (/help from the admin in a chat of its own) after it: commands that change
 * something are handled one by one in order, and reads (such as /help) in order in a lane of
 * their own, so once the barrier is answered everything before it has been handled, and "no
 * reply" can be asserted without waiting for a time.
 */
import assert from "node:assert/strict";
import { type Clock, systemClock } from "../../../core/clock.ts";
import { loadConfig } from "../../../core/config.ts";
import type { Db } from "../../../db/db.ts";
import { executionComponent } from "../../../execution/component.ts";
import { riskComponent } from "../../../risk/component.ts";
import { startService } from "../../../service/service.ts";
import { telegramControlComponent } from "../../../control/component.ts";
import type { ControlActions } from "../../../control/telegram_commands.ts";
import type { ComponentFactory } from "../../../runtime/context.ts";
import { type FakeExchange, startFakeExchange } from "../../fakes/exchange.ts";
import { type FakeMessage, type FakeTelegram, startFakeTelegram } from "../../fakes/telegram.ts";
import { testDb } from "../../helpers/db.ts";

export const ADMIN = 1001;
/** The admin's own chat for barriers, apart from the chats the tests read. */
const BARRIER_CHAT = 999_999;

export interface BotWorld {
  db: Db;
  tg: FakeTelegram;
  fake: FakeExchange;
  service: Awaited<ReturnType<typeof startService>>;
  /** Moves the bot's clock forward (the service's own loops keep real time). */
  skew(ms: number): void;
  /**
   * Sends `text` from `fromId` in `chatId` and returns the messages the bot sent to `chatId`
   * while handling it.
   */
  say(fromId: number, chatId: number, text: string): Promise<FakeMessage[]>;
  /** Presses a button and returns once the press was handled. */
  press(fromId: number, chatId: number, messageId: number, data: string): Promise<void>;
  /** Polls `sql` (one column `v`) until it gives `want`; a generous bound, not a timing check. */
  waitFor(sql: string, want: string, params?: unknown[]): Promise<void>;
}

export async function withBot(
  fn: (w: BotWorld) => Promise<void>,
  o: { actions?: ControlActions; factories?: ComponentFactory[] } = {},
): Promise<void> {
  const t = await testDb();
  const fake = startFakeExchange();
  const tg = await startFakeTelegram();
  let skewMs = 0;
  const clock: Clock = {
    now: () => new Date(Date.now() + skewMs),
    sleep: systemClock.sleep,
  };
  const config = loadConfig({
    HTTP_PORT: "0",
    EXCHANGE_MODE: "live",
    // The commands' own orders are counted here; stops on the exchange are tested apart.
    EXCHANGE_STOPS: "false",
    BROKER_API_KEY: "control-test-key",
    BROKER_API_SECRET: "control-test-secret",
    EXCHANGE_API_URL: fake.url,
    EXCHANGE_TIMEOUT_MS: "2000",
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_API_URL: tg.apiRoot,
    TELEGRAM_ADMIN_IDS: `${ADMIN}, 1002`,
  });
  const service = await startService(config, {
    db: t.db,
    factories: o.factories ??
      [executionComponent, riskComponent, telegramControlComponent({ clock, actions: o.actions })],
  });
  const barrier = async () => {
    const before = tg.messages.filter((m) => m.chatId === BARRIER_CHAT).length;
    tg.sendUpdate({ fromId: ADMIN, chatId: BARRIER_CHAT, text: "/help" });
    await tg.waitFor(() => tg.messages.filter((m) => m.chatId === BARRIER_CHAT).length > before);
  };
  const world: BotWorld = {
    db: t.db,
    tg,
    fake,
    service,
    skew: (ms) => {
      skewMs += ms;
    },
    async say(fromId, chatId, text) {
      const start = tg.messages.length;
      tg.sendUpdate({ fromId, chatId, text });
      await barrier();
      return tg.messages.slice(start).filter((m) => m.chatId === chatId);
    },
    async press(fromId, chatId, messageId, data) {
      tg.press({ fromId, chatId, messageId, data });
      await barrier();
    },
    async waitFor(sql, want, params = []) {
      let got: string | undefined;
      for (let i = 0; i < 400 && got !== want; i++) {
        await new Promise((r) => setTimeout(r, 50));
        got = (await t.db.query<{ v: string }>(sql, params))[0]?.v;
      }
      assert.equal(got, want, sql);
    },
  };
  try {
    await fn(world);
  } finally {
    await service.stop();
    await tg.close();
    await fake.close();
    await t.close();
  }
}

/** The callback data of the first button of `m`'s inline keyboard. */
export function buttonData(m: FakeMessage): { text: string; data: string } {
  const markup = m.replyMarkup as {
    inline_keyboard?: { text: string; callback_data?: string }[][];
  } | undefined;
  const button = markup?.inline_keyboard?.[0]?.[0];
  assert.ok(button?.callback_data, `a button on: ${m.text}`);
  return { text: button.text, data: button.callback_data };
}
