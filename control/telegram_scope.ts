/**
 * The chat a command or a button press comes from decides what the bot shows and does there. A
 * chat tied to an account (`chats add <id> --account NAME`) is shared with that account's owner:
 * its read-only commands show that account alone, and every command or button that changes
 * something is refused there with where to send it instead, so that nothing typed in one
 * person's chat shows or touches another's account. Any other chat (an operator chat, or one
 * never registered, such as the admin's private chat with the bot) sees and controls every
 * account. The answer is looked up at each command: `chats add` takes effect at once.
 */
import type { Sql } from "../db/mod.ts";
import { chatAccount } from "../notify/mod.ts";

export interface ChatScope {
  /** The account the chat is tied to; undefined in an operator chat. */
  account?: { id: number; name: string };
}

export async function chatScope(sql: Sql, chatId: number): Promise<ChatScope> {
  const account = await chatAccount(sql, chatId);
  return account ? { account } : {};
}

/**
 * The answer to `command` (which changes something) in a chat tied to `account`, naming where
 * to send it: an operator chat, or `cli` on the command line.
 */
export function operatorOnlyText(command: string, account: string, cli: string): string {
  return `Not done: this chat is tied to account ${account} and only shows it. ${command} ` +
    "changes trading: send it in an operator chat (one not tied to an account, e.g. your " +
    `private chat with the bot), or run: ${cli}`;
}

/** The same for a button press (Telegram shows at most 200 characters of its answer). */
export function operatorOnlyPressText(account: string): string {
  return `Not done: this chat is tied to account ${account}. Send /exit in an operator chat ` +
    "(one not tied to an account) to sell; nothing was sold.";
}
