/**
 * Masking of secrets in any text that leaves the process: logs, `last_error` columns, error
 * messages shown to people. Used by the log formatter and directly where text is stored.
 */
const MASK = "[REDACTED]";

/** Known shapes of secrets, masked wherever they appear. */
export const SECRET_PATTERNS: RegExp[] = [
  // Telegram bot tokens, bare or inside a Bot API URL (grammY's HttpError carries the URL).
  /\bbot\d{5,}:[A-Za-z0-9_-]{20,}/g,
  /\b\d{5,}:[A-Za-z0-9_-]{30,}\b/g,
  // Exchange request signatures and key headers.
  /\b(signature|apiKey|api_key|X-MBX-APIKEY|secret|auth_token|password)(["']?\s*[:=]\s*["']?)[^"'&\s,}\\]+/gi,
  // Passwords inside connection URLs.
  /(\b[a-z][a-z0-9+.-]*:\/\/[^:/\s@]+:)[^@\s]+@/gi,
];

const registered = new Set<string>();

/** Registers literal secret values (from the environment) so they are masked anywhere. */
export function registerSecrets(values: Iterable<string>): void {
  for (const v of values) if (v.length >= 8) registered.add(v);
}

/**
 * What every SECRET_PATTERNS match contains (digits then a colon, a key word, a URL scheme):
 * text without any of it is returned without running the patterns (most log values).
 */
const MAY_HOLD_PATTERN = /\d{5}:|signature|api_?key|secret|auth_token|password|:\/\//i;

export function redactText(text: string): string {
  let out = text;
  for (const secret of registered) if (out.includes(secret)) out = out.split(secret).join(MASK);
  if (!MAY_HOLD_PATTERN.test(out)) return out;
  out = out.replace(SECRET_PATTERNS[0], MASK).replace(SECRET_PATTERNS[1], MASK);
  out = out.replace(SECRET_PATTERNS[2], (_m, key: string, sep: string) => `${key}${sep}${MASK}`);
  out = out.replace(SECRET_PATTERNS[3], (_m, head: string) => `${head}${MASK}@`);
  return out;
}

/** Field names whose values are never logged. */
export const SECRET_FIELDS: RegExp[] = [
  /token/i,
  /secret/i,
  /password/i,
  /passphrase/i,
  /api_?key/i,
  /signature/i,
  /authorization/i,
  /cookie/i,
];
