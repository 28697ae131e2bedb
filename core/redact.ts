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
  // (libpq's sslpassword too, as a DATABASE_URL parameter.)
  /\b(signature|apiKey|api_key|X-MBX-APIKEY|secret|auth_token|(?:ssl)?password)(["']?\s*[:=]\s*["']?)[^"'&\s,}\\]+/gi,
  // Passwords inside connection URLs.
  /(\b[a-z][a-z0-9+.-]*:\/\/[^:/\s@]+:)[^@\s]+@/gi,
];

const registered = new Set<string>();

/** Registers literal secret values (from the environment) so they are masked anywhere. */
export function registerSecrets(values: Iterable<string>): void {
  for (const v of values) if (v.length >= SHORTEST_SECRET) registered.add(v);
}

/**
 * What every SECRET_PATTERNS match contains (five digits, a colon and 20 token characters; a
 * key word; a URL scheme): text without any of it is returned without running the patterns
 * (most log values, and "alert 12345: buy …", which a bare "digits and a colon" took for a
 * Telegram token). The digits are looked for behind a colon rather than the colon after every
 * digit: a log line is full of digits (times, ids), and trying each of them cost most of the
 * check (0.55 of 0.85 µs on a log line).
 */
const MAY_HOLD_PATTERN =
  /signature|api_?key|secret|auth_token|password|:(?:\/\/|(?<=\d{5}:)[A-Za-z0-9_-]{20})/i;

/**
 * An auth_token already masked, as the webhook stores its raw body: its key word alone is no
 * reason to run the patterns (on it they would write the same text back). The piece begins and
 * ends with a quote, which no MAY_HOLD_PATTERN word holds, so taking it out of the text that
 * is checked hides no other word.
 */
const MASKED_AUTH_FIELD = `"auth_token":"${MASK}"`;

/**
 * The shortest text any secret or pattern can change: a registered secret has 8+ characters,
 * and so has every pattern's shortest match (`apiKey=x`, `a://b:c@`).
 */
const SHORTEST_SECRET = 8;

export function redactText(text: string): string {
  // Most log values (a side, a symbol, a level) are shorter.
  if (text.length < SHORTEST_SECRET) return text;
  let out = text;
  for (const secret of registered) if (out.includes(secret)) out = out.split(secret).join(MASK);
  const probe = out.includes(MASKED_AUTH_FIELD) ? out.replaceAll(MASKED_AUTH_FIELD, "") : out;
  if (!MAY_HOLD_PATTERN.test(probe)) return out;
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
