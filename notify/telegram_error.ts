/**
 * Telegram's permanent refusal, apart from the grammY sender so that deciding what to do with a
 * failure (policy.ts) does not load grammY.
 */
import { RejectedError } from "../core/errors.ts";

/**
 * Telegram refused for good. `scope` says what is wrong: the chat (bot blocked, chat gone:
 * deactivate the chat) or the text (cannot be parsed or too long: retrying will not help).
 */
export class TelegramRejectedError extends RejectedError {
  override name = "TelegramRejectedError";
  constructor(message: string, readonly scope: "chat" | "text", options?: ErrorOptions) {
    super(message, options);
  }
}
