/**
 * Replies to commands are plain text (no parse mode: prices, symbols and reasons need no
 * escaping) and Telegram refuses a message over 4096 characters, so a long reply is split on
 * line boundaries into parts that each fit.
 */
import { limits } from "../core/limits.ts";

/**
 * Splits `text` into parts of at most `maxChars` characters, breaking between lines; a single
 * line longer than that is cut into pieces. Joining the parts with "\n" gives `text` back
 * (apart from a cut line, whose pieces are joined the same way).
 */
export function splitReply(
  text: string,
  maxChars: number = limits.telegramMessageMaxChars,
): string[] {
  const parts: string[] = [];
  let current = "";
  const flush = () => {
    if (current.length > 0) parts.push(current);
    current = "";
  };
  for (const line of text.split("\n")) {
    // Cut by code point so that no surrogate pair is broken across two messages.
    const pieces = [...line].length <= maxChars ? [line] : chunks([...line], maxChars);
    for (const piece of pieces) {
      const joined = current.length === 0 ? piece : `${current}\n${piece}`;
      if ([...joined].length <= maxChars && !(current.length === 0 && piece.length === 0)) {
        current = joined;
      } else {
        flush();
        current = piece;
      }
    }
  }
  flush();
  // Telegram refuses an empty message: a reply of blank lines only says so.
  return parts.filter((p) => p.trim().length > 0).length > 0
    ? parts.filter((p) => p.trim().length > 0)
    : ["(empty)"];
}

function chunks(chars: string[], size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(""));
  return out;
}
