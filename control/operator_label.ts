/**
 * Who did an operator action, as it is recorded and told ("Telegram user 123", "ops (CLI)"),
 * and the same text as a chat tied to one account may read it: the operator's Telegram user id
 * or CLI user name is for the operator's chats only, there it is "the operator".
 */

export interface Actor {
  via: "cli" | "telegram";
  /** Telegram user id, or the CLI's user name. */
  who: string;
}

export const operatorLabel = (a: Actor): string =>
  a.via === "telegram" ? `Telegram user ${a.who}` : `${a.who} (CLI)`;

/** Any label operatorLabel writes, also inside stored text (a pause's "paused by …"). */
const OPERATOR_LABEL = /\bTelegram user \d+|[^\s()]+ \(CLI\)/g;

/** `text` for a chat tied to one account: each operator label reads "the operator". */
export function withoutOperator(text: string): string {
  return text.replace(OPERATOR_LABEL, "the operator");
}
