/**
 * A Telegram outage and a slow Telegram, through the real outbox worker and grammY sender
 * against tests/fakes/telegram.ts. The outage answers 502 for a while; the retry schedule is
 * run on a clock moved forward (the bench does not wait out 1, 2, 5 min). The slow Bot API
 * accepts each message and answers after 12 s, past grammY's usual 10 s timeout.
 */
import { testDb } from "../../tests/helpers/db.ts";
import { startFakeTelegram } from "../../tests/fakes/telegram.ts";
import { enqueueNotification, NotificationKind } from "../../notify/mod.ts";
import { outboxWorker } from "../../notify/worker.ts";
import { telegramSender } from "../../notify/telegram.ts";
import { systemClock } from "../../core/clock.ts";
import { logger } from "../../core/log.ts";
import { type Row, row } from "./common.ts";

export async function telegramScenario(messages: number, slow: number): Promise<Row[]> {
  const t = await testDb();
  const tg = await startFakeTelegram();
  let offsetMs = 0;
  const clock = { now: () => new Date(Date.now() + offsetMs), sleep: systemClock.sleep };
  try {
    const chats = Math.max(1, slow);
    for (let c = 1; c <= chats; c++) {
      await t.db.query("insert into telegram_chats (chat_id) values ($1)", [c]);
    }
    const worker = outboxWorker({
      db: t.db,
      // CHAOS_TG_TIMEOUT_S=10 shows grammY's usual timeout doubling the slow messages.
      sender: telegramSender({
        token: tg.token,
        apiUrl: tg.apiRoot,
        timeoutSeconds: Number(Deno.env.get("CHAOS_TG_TIMEOUT_S")) || undefined,
      }),
      clock,
      log: logger("chaos"),
      perChatPerS: 0,
      globalPerS: 0,
    });
    const doubled = () => {
      const seen = new Map<string, number>();
      for (const m of tg.messages) {
        const k = `${m.chatId}:${m.text}`;
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
      return [...seen.values()].filter((n) => n > 1).length;
    };
    // Outage: every send fails for the first passes, then Telegram is back.
    tg.fail({ kind: "server_error" });
    for (let i = 0; i < messages; i++) {
      await enqueueNotification(t.db, {
        severity: "INFO",
        kind: NotificationKind.chaos,
        text: `outage message ${i}`,
        dedupeKey: `chaos:outage:${i}`,
      });
    }
    await worker.drain();
    tg.clearFailures();
    for (let step = 0; step < 10; step++) {
      offsetMs += 16 * 60_000;
      await worker.drain();
    }
    const outageExpected = messages * chats;
    const outageDelivered = tg.messages.length;
    const outageDoubled = doubled();

    // Slow: one message per chat, answered after 12 s; all sent at once.
    tg.messages.length = 0;
    tg.fail({ kind: "slow", delayMs: 12_000 }, { times: chats });
    await enqueueNotification(t.db, {
      severity: "INFO",
      kind: NotificationKind.chaos,
      text: "slow message",
      dedupeKey: "chaos:slow",
    });
    const started = Date.now();
    await worker.drain();
    for (let step = 0; step < 3; step++) {
      offsetMs += 16 * 60_000;
      await worker.drain();
    }
    const slowS = (Date.now() - started) / 1000;
    const slowDelivered = tg.messages.length;
    const slowDoubled = doubled();
    const s = "telegram";
    return [
      row(
        s,
        "outage (502): delivered / queued",
        `${outageDelivered} / ${outageExpected}`,
        "all",
        outageDelivered >= outageExpected,
      ),
      row(s, "outage: messages doubled", outageDoubled, "0", outageDoubled === 0),
      row(
        s,
        "slow (12 s answers): delivered / queued",
        `${slowDelivered} / ${chats}`,
        "all",
        slowDelivered >= chats,
      ),
      row(s, "slow: messages doubled", slowDoubled, "0", slowDoubled === 0),
      row(s, "slow: seconds to deliver", slowS.toFixed(1)),
    ];
  } finally {
    await tg.close();
    await t.close();
  }
}
