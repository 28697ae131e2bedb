/**
 * Message text for Telegram's HTML parse mode. Outbox rows hold plain text; it is escaped only
 * here, at send time, so that a price such as "<5%" or "P&L" never breaks a message.
 */
import { limits } from "../core/limits.ts";
import type { Severity } from "./enqueue.ts";

/** HTML parse mode needs only these three escaped (Bot API: "HTML style"). */
export function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/**
 * Trims plain text to at most `maxChars` (UTF-16 units, as Telegram counts them) with a marker
 * that says how much was cut. One row stays one message: splitting would make a retry after a
 * partial send repeat the parts already delivered.
 */
export function trimText(text: string, maxChars: number = limits.telegramMessageMaxChars): string {
  if (text.length <= maxChars) return text;
  let cut = maxChars;
  let marker = "";
  // The marker's own length depends on the number it shows; two passes settle it.
  for (let i = 0; i < 2; i++) {
    marker = `\n… [trimmed ${text.length - cut} characters]`;
    cut = Math.max(0, maxChars - marker.length);
  }
  // Never cut a surrogate pair in half (Telegram would refuse the invalid UTF-16).
  const code = text.charCodeAt(cut - 1);
  if (cut > 0 && code >= 0xd800 && code <= 0xdbff) cut--;
  return text.slice(0, cut) + `\n… [trimmed ${text.length - cut} characters]`;
}

const ICON: Record<Severity, string> = { INFO: "ℹ️", WARN: "⚠️", CRITICAL: "🚨" };

/**
 * The HTML sent for one outbox row: a bold header with severity and kind, then the text.
 * The visible length (after entity parsing) stays within Telegram's limit.
 */
export function renderMessage(
  row: { severity: Severity; kind: string; text: string },
  maxChars: number = limits.telegramMessageMaxChars,
): string {
  const header = trimText(`${ICON[row.severity]} ${row.severity} · ${row.kind}`, 200);
  const body = trimText(row.text, Math.max(1, maxChars - header.length - 1));
  return `<b>${escapeHtml(header)}</b>\n${escapeHtml(body)}`;
}

/** The visible text of an HTML message (what Telegram counts against the limit). */
export function visibleText(html: string): string {
  return html.replace(/<[^>]*>/g, "").replaceAll("&lt;", "<").replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"').replaceAll("&amp;", "&");
}
