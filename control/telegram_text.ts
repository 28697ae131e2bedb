/**
 * Replies to commands are plain text (no parse mode: prices, symbols and reasons need no
 * escaping) and Telegram refuses a message over 4096 characters, so a long reply is split on
 * line boundaries into parts that each fit. Telegram counts UTF-16 units (an emoji is two), as
 * notify/format.ts does: so does every length here, and no cut breaks a surrogate pair.
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
    const pieces = line.length <= maxChars ? [line] : chunks(line, maxChars);
    for (const piece of pieces) {
      const joined = current.length === 0 ? piece : `${current}\n${piece}`;
      if (joined.length <= maxChars && !(current.length === 0 && piece.length === 0)) {
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

/** `line` cut into pieces of at most `size` UTF-16 units, between code points. */
function chunks(line: string, size: number): string[] {
  const out: string[] = [];
  let current = "";
  for (const char of line) {
    if (current.length > 0 && current.length + char.length > size) {
      out.push(current);
      current = "";
    }
    current += char;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** `text` cut to at most `maxChars` UTF-16 units (a button's answer), between code points. */
export function cutText(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : chunks(text, maxChars)[0];
}
