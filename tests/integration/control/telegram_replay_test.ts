/**
 * A command handled just before a crash is not run again after the restart: Telegram hands an
 * update over until the next getUpdates confirms it, so a process killed in between receives it
 * again, and a replayed /resume would lift a pause set after it. The poller records the last
 * update it handled (telegram_update_marks) and skips what it handled before. The Bot API is a
 * stub here (no network): the restarted poller is handed the unconfirmed update again.
 * Runs on the real PostgreSQL when TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { type Api, Bot } from "grammy";
import { systemClock } from "../../../core/clock.ts";
import { logger } from "../../../core/log.ts";
import { dbUpdateMarks } from "../../../control/telegram_bot.ts";
import { pollUpdates } from "../../../control/telegram_poller.ts";
import { testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const botInfo = {
  id: 4242,
  is_bot: true as const,
  first_name: "pg-solo-lite",
  username: "pgsl_bot",
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
  has_topics_enabled: false,
  allows_users_to_create_topics: false,
  can_manage_bots: false,
  supports_join_request_queries: false,
};

const resume = {
  update_id: 700,
  message: {
    message_id: 1,
    date: Math.floor(Date.now() / 1000),
    chat: { id: 1001, type: "private" as const, first_name: "op" },
    from: { id: 1001, is_bot: false, first_name: "op" },
    text: "/resume",
    entities: [{ type: "bot_command" as const, offset: 0, length: 7 }],
  },
};

/** One poller run that is handed `updates` once, then waits until stopped (a "crash"). */
async function runOnce(
  marks: ReturnType<typeof dbUpdateMarks>,
  onResume: () => void,
  clock = systemClock,
) {
  const bot = new Bot("4242:test-token-0000000000000000000000", { botInfo });
  bot.command("resume", () => onResume());
  const controller = new AbortController();
  let calls = 0;
  const api = {
    getMe: () => Promise.resolve(botInfo),
    getUpdates: (params: { offset?: number }) => {
      calls++;
      // Never confirmed: the first call of each run hands the update over again.
      if (calls === 1) return Promise.resolve([resume]);
      if (params.offset !== undefined && calls > 1) controller.abort(); // the process dies
      return Promise.resolve([]);
    },
  } as unknown as Api;
  await pollUpdates({
    bot,
    api,
    clock,
    log: logger("test"),
    signal: controller.signal,
    onProblem: () => Promise.resolve(),
    marks,
  });
}

Deno.test({
  ...serviceTest,
  name: "a /resume handled before a crash is skipped when Telegram hands it over again",
  fn: async () => {
    await using t = await testDb();
    const marks = dbUpdateMarks(t.db);
    let resumed = 0;
    await runOnce(marks, () => void resumed++);
    assert.equal(resumed, 1);
    const [row] = await t.db.query<{ id: string }>(
      "select last_update_id::text as id from telegram_update_marks where bot_id = 4242",
    );
    assert.equal(row.id, "700");
    await runOnce(marks, () => void resumed++);
    assert.equal(resumed, 1, "not run a second time");
    // A new update after it is handled as usual.
    resume.update_id = 701;
    await runOnce(marks, () => void resumed++);
    assert.equal(resumed, 2);
    // After a week without updates Telegram numbers the next ones at random, maybe lower: a
    // mark that old (Telegram keeps an unconfirmed update 24 hours) is not used.
    await t.db.query("update telegram_update_marks set updated_at = now() - interval '8 days'");
    resume.update_id = 5;
    await runOnce(marks, () => void resumed++);
    assert.equal(resumed, 3, "a lower id after a long pause is a new command");
  },
});

Deno.test({
  ...serviceTest,
  name: "with the database down at start, no update is taken until the mark can be read: the " +
    "handled /resume is not run again",
  fn: async () => {
    await using t = await testDb();
    const marks = dbUpdateMarks(t.db);
    resume.update_id = 900;
    let resumed = 0;
    await runOnce(marks, () => void resumed++);
    assert.equal(resumed, 1);
    // The restart finds the database down for its first two reads of the mark.
    let down = 2;
    const flaky = {
      ...marks,
      load: (botId: number) =>
        down-- > 0 ? Promise.reject(new Error("connection refused")) : marks.load(botId),
    };
    const waits: number[] = [];
    const clock = {
      ...systemClock,
      sleep: (ms: number) => {
        waits.push(ms);
        return Promise.resolve();
      },
    };
    await runOnce(flaky, () => void resumed++, clock);
    assert.equal(resumed, 1, "not run a second time");
    assert.equal(waits.length, 2, "polling waited for the database, with its backoff");
  },
});
