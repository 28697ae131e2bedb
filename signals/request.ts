/**
 * The guards of an inbound HTTP request: who sent it (address, allowlist), whether it carries
 * the shared secret (compared in constant time), and its body read with a hard size limit.
 */

export type BodyRead = { ok: true; text: string } | { ok: false; tooLarge: true };

/**
 * Reads at most `maxBytes` of the body as a stream. A larger body is cut off as soon as the
 * limit is passed (the rest is never buffered) and reported as too large.
 */
export async function readBodyLimited(req: Request, maxBytes: number): Promise<BodyRead> {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) {
    await req.body?.cancel().catch(() => {});
    return { ok: false, tooLarge: true };
  }
  if (Number.isFinite(declared)) {
    // A declared length within the limit bounds the body: the HTTP server never reads past
    // it. Reading it whole skips the per-chunk stream machinery (measured in bench/webhook.ts);
    // the check below still holds for a Request built in-process with a wrong header.
    // `req.body` is not touched first: that getter builds a JavaScript stream that `bytes()`
    // then reads chunk by chunk, where an untouched body is read by the runtime in one piece
    // (~3.3 KB less allocated per alert, sampled on serve under bench/webhook.ts).
    const bytes = await req.bytes();
    if (bytes.byteLength > maxBytes) return { ok: false, tooLarge: true };
    return { ok: true, text: decoder.decode(bytes) };
  }
  if (!req.body) return { ok: true, text: "" };
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        return { ok: false, tooLarge: true };
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return { ok: true, text: decoder.decode(all) };
}

const decoder = new TextDecoder();

/**
 * Constant-time comparison: the loop runs over every character of the given text whatever it
 * holds, each compared with the expected token's character at that place (cycled), and the
 * lengths are compared the same way; so neither the content nor the length of the expected
 * token leaks through the time taken, which depends on the given text's length alone. (No
 * digest per request: two SHA-256 and a buffer compare through node:crypto cost ~8 µs each
 * alert under load.)
 */
export function tokenChecker(expected: string): (given: unknown) => boolean {
  const n = expected.length;
  return (given) => {
    if (typeof given !== "string" || n === 0) return false;
    let diff = given.length ^ n;
    for (let i = 0; i < given.length; i++) diff |= given.charCodeAt(i) ^ expected.charCodeAt(i % n);
    return diff === 0;
  };
}

export function tokenMatches(given: string | undefined | null, expected: string): boolean {
  return tokenChecker(expected)(given);
}

/**
 * The client's address. Behind a trusted reverse proxy the last X-Forwarded-For entry is the
 * one the proxy itself added; entries before it are whatever the client claimed.
 */
export function clientAddress(req: Request, remoteAddr: string, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headers.get("x-forwarded-for");
    const last = forwarded?.split(",").map((s) => s.trim()).filter(Boolean).pop();
    if (last) return normalizeIp(last);
  }
  return normalizeIp(remoteAddr);
}

function normalizeIp(ip: string): string {
  const v = ip.trim().replace(/^\[|\]$/g, "");
  return v.startsWith("::ffff:") && v.includes(".") ? v.slice(7) : v;
}

/** True when `ip` is in the list of addresses and IPv4 CIDR ranges ("52.89.214.238", "10.0.0.0/8"). */
export function ipAllowed(ip: string, allowlist: string[]): boolean {
  for (const entry of allowlist) {
    if (!entry.includes("/")) {
      if (normalizeIp(entry) === ip) return true;
      continue;
    }
    const [base, bitsText] = entry.split("/");
    const bits = Number(bitsText);
    const a = ipv4ToInt(ip);
    const b = ipv4ToInt(base);
    if (a === undefined || b === undefined || !(bits >= 0 && bits <= 32)) continue;
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    if (((a & mask) >>> 0) === ((b & mask) >>> 0)) return true;
  }
  return false;
}

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    const v = Number(p);
    if (!/^\d{1,3}$/.test(p) || v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/**
 * The content types the webhook takes: JSON, plain text (what TradingView sends for a message
 * that is not valid JSON) in any charset, and none at all (curl -d without -H, older senders).
 * Undefined when accepted, else the reason for a 415.
 */
export function contentTypeRefusal(header: string | null): string | undefined {
  if (header === null || header.trim() === "") return undefined;
  const type = header.split(";")[0].trim().toLowerCase();
  if (type === "application/json" || type === "text/plain") return undefined;
  return `Content type "${type.slice(0, 60)}" is not accepted; send application/json or ` +
    `text/plain`;
}

/**
 * Every string of a decoded JSON value, object keys included. Bounded by the body size limit,
 * and a decoded JSON value has no cycles. Walked with a stack of its own, not by recursion: a
 * body of 64 KiB can nest 30,000 levels deep, past the call stack.
 */
export function* jsonStrings(value: unknown): Generator<string> {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "string") yield v;
    else if (Array.isArray(v)) { for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]); }
    else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v).reverse()) {
        stack.push(x);
        stack.push(k);
      }
    }
  }
}

/**
 * The fields whose numbers are traded (pine_schema.ts): a number elsewhere (a sender's own
 * `bar_id`) is ignored, as the field is.
 */
const TRADED_NUMBERS = new Set(["qty", "price", "sl", "tp", "trail_pct", "confidence"]);

/**
 * Whether a number's text is the double JSON.parse made of it: written as its shortest form
 * (65000.12) or in full to 17 digits (C's %.17g: 65000.120000000003 is that same double).
 * 0.99999999999999999 is not (it parses to 1), nor is 0.1234567890123456789.
 */
function keptAsWritten(source: string, value: number): boolean {
  const key = decimalKey(source);
  return key === decimalKey(String(value)) || key === decimalKey(value.toPrecision(17));
}

/** A decimal number's digits and exponent, zeros trimmed: "65000.50" and "6.50005e4" agree. */
function decimalKey(text: string): string | undefined {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return undefined;
  const frac = m[2] ?? "";
  let digits = (m[1] + frac).replace(/^0+/, "");
  let exp = Number(m[3] ?? 0) - frac.length;
  const zeros = digits.length - digits.replace(/0+$/, "").length;
  digits = digits.slice(0, digits.length - zeros);
  exp += zeros;
  return digits === "" ? "0" : `${digits}e${exp}`;
}

/**
 * The first number of a JSON text that JSON.parse cannot keep as written (more digits than a
 * double holds: 0.1234567890123456789 becomes 0.12345678901234568), its key and text; undefined
 * when every traded number is kept. Such a number would be stored and traded as another, so
 * the alert is refused instead. Only a text with a run of 16 or more digits (a point among
 * them) can hold one: any other is answered without a second parse.
 */
export function inexactJsonNumber(text: string): { key: string; source: string } | undefined {
  if (!/\d[\d.]{15}/.test(text)) return undefined;
  const traded: { holder: unknown; key: string; source: string; value: number }[] = [];
  let root: unknown;
  try {
    JSON.parse(text, function (this: unknown, key, value, context?: { source?: string }) {
      const source = context?.source;
      if (typeof value === "number" && source !== undefined && TRADED_NUMBERS.has(key)) {
        traded.push({ holder: this, key, source, value });
      }
      if (key === "") root = value;
      return value;
    });
  } catch {
    return undefined;
  }
  // Only the alert's own fields (the top level), as the schema reads them.
  const found = traded.find((n) => n.holder === root && !keptAsWritten(n.source, n.value));
  return found && { key: found.key, source: found.source };
}

/** The refusal of such a number, with the way to send it. */
export const inexactNumberError = (n: { key: string; source: string }) =>
  `Number ${n.source} (${n.key}) has more digits than a JSON number keeps; send it as a ` +
  `string: "${n.key}": "${n.source}"`;

/** The fields the alert is read from (pine_schema.ts); auth_token is the token checks' own. */
const ALERT_FIELDS = new Set([
  "symbol",
  "side",
  "strategy",
  "qty",
  "price",
  "sl",
  "tp",
  "trail_pct",
  "confidence",
  "ts",
  "idempotency_key",
]);

/**
 * The first field of the alert that a JSON object text gives more than once
 * (`"side":"sell", … "side":"buy"`), or undefined. JSON.parse keeps the last value without a
 * word, so such an alert would trade what its first value did not say. `fields` is the parsed
 * object. Every key literal ends in `"`, spaces and `:`: a text with no more of those than
 * `fields` has keys repeats none and is answered without the walk below (only nested objects,
 * a repeat or an escaped quote before a colon in a value take it).
 */
export function repeatedAlertField(
  text: string,
  fields: Record<string, unknown>,
): string | undefined {
  let keys = 0;
  for (const k in fields) if (Object.hasOwn(fields, k)) keys++;
  let colons = 0;
  for (let at = text.indexOf(":"); at !== -1 && colons <= keys; at = text.indexOf(":", at + 1)) {
    let j = at - 1;
    while (j > 0 && isJsonSpace(text.charCodeAt(j))) j--;
    if (text.charCodeAt(j) === QUOTE) colons++;
  }
  if (colons <= keys) return undefined;
  // The top-level keys, walked: a string at depth 1 followed by a colon is a key.
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === '"') {
      let end = i + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      const literal = text.slice(i, end + 1);
      i = end;
      if (depth !== 1) continue;
      let next = end + 1;
      while (isJsonSpace(text.charCodeAt(next))) next++;
      if (text[next] !== ":") continue;
      const key: string = literal.includes("\\") ? JSON.parse(literal) : literal.slice(1, -1);
      if (seen.has(key) && ALERT_FIELDS.has(key)) return key;
      seen.add(key);
    }
  }
  return undefined;
}

const QUOTE = 0x22;
const isJsonSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** The refusal of an alert that gives a field more than once. */
export const repeatedFieldError = (key: string) =>
  `Invalid alert: ${key}: given more than once; give each field once`;

/** Whether a decoded JSON value nests arrays and objects deeper than `max` levels. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  // Recursive, so nothing is allocated for a flat alert (it runs for every one); the recursion
  // goes no deeper than `max` + 1, since it stops there.
  if (typeof value !== "object" || value === null) return false;
  if (max < 1) return true;
  if (Array.isArray(value)) {
    for (const x of value) if (nestedDeeperThan(x, max - 1)) return true;
    return false;
  }
  const o = value as Record<string, unknown>;
  for (const k in o) if (Object.hasOwn(o, k) && nestedDeeperThan(o[k], max - 1)) return true;
  return false;
}

/**
 * Every string literal of a JSON text, keys included, decoded: also the ones JSON.parse drops
 * (a key given twice keeps only its last value, but the raw text keeps both). In a valid JSON
 * text no `"` stands outside a string, so the pattern finds exactly its literals; in any other
 * text a literal that does not decode is unescaped loosely.
 */
export function* jsonTextStrings(text: string): Generator<string> {
  for (const [literal] of text.matchAll(/"(?:[^"\\]|\\.)*"/gs)) {
    if (!literal.includes("\\")) {
      yield literal.slice(1, -1);
      continue;
    }
    try {
      yield JSON.parse(literal);
    } catch {
      yield looseUnescape(literal);
    }
  }
}

/**
 * A text with its JSON-style escapes (`\u0072`, `\/`) decoded, for a body that is not valid
 * JSON. It may decode more than a parser would (`\\u0072`): it only finds, never stores.
 */
export function looseUnescape(text: string): string {
  return text.replace(
    /\\(?:u([0-9a-fA-F]{4})|(.))/gs,
    (_, hex: string | undefined, ch: string | undefined) =>
      hex === undefined ? ch! : String.fromCharCode(parseInt(hex, 16)),
  );
}

/**
 * The values a text that is not JSON gives `auth_token`, read loosely: `"auth_token": "…"`
 * beside a JSON mistake, with curly quotes (“…”), or `auth_token=…` in a plain message; escapes
 * decoded. Only the public key word is searched for, so the time taken says nothing of the
 * token; each value is then compared in constant time.
 */
export function looseAuthTokens(text: string): string[] {
  const values: string[] = [];
  for (const m of text.matchAll(LOOSE_AUTH_TOKEN)) {
    values.push(looseUnescape(m[1] ?? m[2] ?? m[3] ?? ""));
  }
  return values;
}

const LOOSE_AUTH_TOKEN =
  /auth_token["'“”‘’]?\s*[:=]\s*(?:["“”]([^"“”]*)["“”]|'([^']*)'|([^\s"'“”‘’,;}&]+))/g;

/** How many string literals of a JSON text hold `secret` once decoded (see jsonTextStrings). */
export function secretLiterals(text: string, secret: string): number {
  let n = 0;
  for (const s of jsonTextStrings(text)) if (s.includes(secret)) n++;
  return n;
}

/** Whether any string of the value (keys included) holds `secret`, however it was escaped. */
export function holdsSecret(value: unknown, secret: string): boolean {
  for (const s of jsonStrings(value)) if (s.includes(secret)) return true;
  return false;
}

/**
 * Whether a string of the value holds an unpaired UTF-16 surrogate (`"\ud800"`): valid JSON
 * text, but PostgreSQL's jsonb refuses it, so it must be refused before the write.
 */
export function holdsLoneSurrogate(value: unknown): boolean {
  for (const s of jsonStrings(value)) if (!s.isWellFormed()) return true;
  return false;
}
