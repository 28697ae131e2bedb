/**
 * The Telegram sender over grammY's `Api`, and the one place where grammY errors are mapped
 * into what the outbox worker does next. grammY's HttpError carries the request URL, which
 * contains the bot token: every message taken from an error goes through redactText.
 */
import { Api, GrammyError, HttpError } from "grammy";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { RateLimitedError, TemporaryError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { redactText } from "../core/redact.ts";
import { TelegramChatMigratedError, TelegramRejectedError } from "./telegram_error.ts";

export { TelegramChatMigratedError, TelegramRejectedError };

/** Sends one HTML message; resolves to Telegram's message id. Throws the mapped errors below. */
export type Sender = (chatId: number, html: string, signal?: AbortSignal) => Promise<number>;

export interface TelegramSenderOptions {
  token: string;
  /** Bot API root without a trailing slash; TELEGRAM_API_URL in tests and behind proxies. */
  apiUrl?: string;
  timeoutSeconds?: number;
}

export function telegramSender(options: TelegramSenderOptions): Sender {
  // grammY's own fetch is kept: passing Deno's global fetch breaks its AbortSignal handling.
  // No keep-alive: Deno 2.9's node:http re-sends a cancelled (timed-out) POST on a reused
  // connection (denoland/deno#36786), so Telegram got the message twice, once from that
  // resend and once from our retry. A fresh connection per message avoids it (tested in
  // tests/integration/telegram_sender_test.ts) and costs little at ~1 message a second.
  const apiRoot = (options.apiUrl ?? "https://api.telegram.org").replace(/\/+$/, "");
  const agent = apiRoot.startsWith("https:")
    ? new HttpsAgent({ keepAlive: false })
    : new HttpAgent({ keepAlive: false });
  const api = new Api(options.token, {
    apiRoot,
    baseFetchConfig: { agent },
    timeoutSeconds: options.timeoutSeconds ?? limits.telegramTimeoutS,
  });
  return async (chatId, html, signal) => {
    try {
      const message = await api.sendMessage(chatId, html, {
        parse_mode: "HTML",
        link_preview_options: { is_disabled: true },
        // grammY types its own AbortSignal shim; it only listens for "abort" on ours.
      }, signal as Parameters<Api["sendMessage"]>[3]);
      return message.message_id;
    } catch (error) {
      throw mapTelegramError(error);
    }
  };
}

const CHAT_GONE = [
  /bot was blocked/i,
  /chat not found/i,
  /user is deactivated/i,
  /bot was kicked/i,
  /not a member/i,
  /group chat was upgraded/i,
  /have no rights to send/i,
];

/** Maps a grammY (or any) error once into the error the worker acts on, redacted. */
export function mapTelegramError(error: unknown): Error {
  if (error instanceof GrammyError) {
    const text = redactText(
      `Telegram refused the message (${error.error_code}: ${error.description})`,
    );
    const code = error.error_code;
    if (code === 429) {
      const retryAfterS = Number(error.parameters.retry_after ?? 1);
      return new RateLimitedError(
        `${text}; retrying after ${retryAfterS} s`,
        Math.max(1, retryAfterS) * 1000,
      );
    }
    const migrateTo = Number(error.parameters.migrate_to_chat_id);
    if (code === 400 && Number.isSafeInteger(migrateTo) && migrateTo !== 0) {
      return new TelegramChatMigratedError(text, migrateTo);
    }
    // "group chat was upgraded" without the new id to follow: the old chat is gone.
    if (code === 403 || (code === 400 && CHAT_GONE.some((re) => re.test(error.description)))) {
      return new TelegramRejectedError(text, "chat");
    }
    if (code === 400) return new TelegramRejectedError(text, "text");
    // 401 (wrong token), 5xx and anything unexpected: temporary, counted as a failure so that
    // a wrong token ends in FAILED rows and an alert rather than silent retries forever.
    return new TemporaryError(text);
  }
  if (error instanceof HttpError) {
    const inner = error.error instanceof Error ? error.error.message : String(error.error);
    return new TemporaryError(
      redactText(`Cannot reach the Telegram Bot API: ${error.message} ${inner}`.trim()),
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new TemporaryError(redactText(`Sending to Telegram failed: ${message}`));
}
