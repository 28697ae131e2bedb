/**
 * Sending a reply to a command: plain text, split under Telegram's limit, straight to the Bot
 * API (never through the outbox — an answer an hour late is worthless). A 429 asking for a short
 * wait is waited out once; any other failure is logged and the reply is dropped.
 */
import { type Context, GrammyError, type InlineKeyboard } from "grammy";
import { errorMessage } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import { redactText } from "../core/redact.ts";
import { splitReply } from "./telegram_text.ts";

/** Runs one Bot API call; on a short 429 waits `retry_after` and tries once more. */
export async function withOneRetry<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const waitMs = error instanceof GrammyError && error.error_code === 429
      ? Number(error.parameters.retry_after ?? 1) * 1000
      : Infinity;
    if (waitMs > limits.controlReplyRetryMaxMs) throw error;
    await new Promise((r) => setTimeout(r, waitMs));
    return await call();
  }
}

/**
 * Replies `text` in the chat of `ctx`, in as many messages as it takes; the keyboard goes on the
 * last one. Resolves to the message id of the last part sent, or undefined when sending failed.
 */
export async function replyPlain(
  ctx: Context,
  log: Log,
  text: string,
  keyboard?: InlineKeyboard,
): Promise<number | undefined> {
  const parts = splitReply(text);
  let last: number | undefined;
  for (const [i, part] of parts.entries()) {
    const markup = i === parts.length - 1 && keyboard ? { reply_markup: keyboard } : {};
    try {
      last = (await withOneRetry(() => ctx.reply(part, markup))).message_id;
    } catch (error) {
      log.warn("Cannot reply in Telegram chat {chatId} (part {part} of {parts}): {error}", {
        chatId: ctx.chat?.id,
        part: i + 1,
        parts: parts.length,
        error: redactText(errorMessage(error)),
      });
      return undefined;
    }
  }
  return last;
}
