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

/**
 * The group was upgraded to a supergroup: Telegram refused the message for the old chat id and
 * named the new one (400 with `parameters.migrate_to_chat_id`). Not a failure of the message: the
 * chat is followed to its new id and the message is sent there.
 */
export class TelegramChatMigratedError extends RejectedError {
  override name = "TelegramChatMigratedError";
  constructor(message: string, readonly toChatId: number, options?: ErrorOptions) {
    super(message, options);
  }
}
