/**
 * The Pine `alert()` message (SPEC section 4, HTTP) as zod validates it. Numbers may arrive as
 * JSON numbers or as strings (TradingView placeholders are pasted inside quotes); both become
 * decimal strings, never floats. A valid alert of the usual shape is checked by a hand-written
 * fast path with the same rules (zod's own parse cost more than the rest of the validation on
 * the webhook's hot path); anything it does not accept goes through zod, which says what is
 * wrong, so the messages are zod's.
 */
import { z } from "zod";
import { toPositiveDecimal } from "../trading/decimal.ts";
import { STRATEGY_NAME } from "./strategies.ts";

const positiveDecimal = z.unknown().transform((v, ctx) => {
  const d = toPositiveDecimal(v);
  if (d === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `expected a positive decimal number such as 0.01 (got ${short(v)})`,
    });
    return z.NEVER;
  }
  return d;
});

/** A percentage strictly between 0 and 100, e.g. a trailing distance. */
const percent = positiveDecimal.refine((d) => Number(d) < 100, {
  message: "expected a percentage above 0 and below 100",
});

/** A confidence from 0 to 1, as a number or a numeric string; undefined when it is not one. */
function toConfidence(v: unknown): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : undefined;
}

const confidence = z.unknown().transform((v, ctx) => {
  const n = toConfidence(v);
  if (n === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a number from 0 to 1 (got ${short(v)})` });
    return z.NEVER;
  }
  return n;
});

const isoTime = z.iso.datetime({ offset: true, error: "expected an ISO-8601 time" });

export const pineAlertSchema = z.object({
  symbol: z.string({ error: "expected a symbol such as BINANCE:BTCUSDT or BTC/USDT" }).trim()
    .min(1, "expected a symbol such as BINANCE:BTCUSDT or BTC/USDT").max(64, "too long"),
  side: z.string({ error: "expected buy or sell" }).trim().toLowerCase()
    .pipe(z.enum(["buy", "sell"], { error: "expected buy or sell" })),
  strategy: z.string({ error: "expected the name of a strategy" }).trim()
    .regex(STRATEGY_NAME, "expected a strategy name of letters, digits, _ . -"),
  qty: positiveDecimal.optional(),
  price: positiveDecimal.optional(),
  sl: positiveDecimal.optional(),
  tp: positiveDecimal.optional(),
  trail_pct: percent.optional(),
  confidence: confidence.optional(),
  ts: isoTime.optional(),
  idempotency_key: z.string({ error: "expected a string" }).trim().min(1, "must not be empty")
    .max(200, "must be at most 200 characters").optional(),
});

export type PineAlert = z.output<typeof pineAlertSchema>;

export type ParsedAlert = { ok: true; alert: PineAlert } | { ok: false; error: string };

/**
 * Validates a decoded body. Null and empty-string fields count as absent (a CSV cell left
 * empty, a placeholder TradingView could not fill).
 */
export function parsePineAlert(body: unknown): ParsedAlert {
  const cleaned = cleanedFields(body);
  if (!cleaned) return { ok: false, error: NOT_AN_OBJECT };
  const fast = fastPineAlert(cleaned);
  return fast ? { ok: true, alert: fast } : schemaVerdict(cleaned);
}

/** The verdict of the zod schema alone (what the fast path must agree with). */
export function parsePineAlertWithSchema(body: unknown): ParsedAlert {
  const cleaned = cleanedFields(body);
  return cleaned ? schemaVerdict(cleaned) : { ok: false, error: NOT_AN_OBJECT };
}

const NOT_AN_OBJECT = "Alert must be a JSON object with symbol, side and strategy";

function cleanedFields(body: unknown): Record<string, unknown> | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  const cleaned: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v !== null && v !== "") cleaned[k] = v;
  }
  return cleaned;
}

function schemaVerdict(cleaned: Record<string, unknown>): ParsedAlert {
  const result = pineAlertSchema.safeParse(cleaned);
  if (result.success) return { ok: true, alert: result.data };
  const problems = result.error.issues.map((i) =>
    `${i.path.join(".") || "body"}: ${
      i.code === "invalid_type" && cleaned[String(i.path[0])] === undefined
        ? "is required"
        : i.message
    }`
  );
  return { ok: false, error: `Invalid alert: ${problems.join("; ")}` };
}

/** The very pattern zod checks `ts` with. */
const ISO_TIME = isoTime._zod.pattern;

/**
 * The schema's rules, by hand, for an alert that passes them all: what zod would return, or
 * undefined when any field is missing or wrong (zod then reports it). Kept equal to the schema
 * by a corpus test (pine_schema_corpus_test.ts).
 */
export function fastPineAlert(o: Record<string, unknown>): PineAlert | undefined {
  const { symbol: rawSymbol, side: rawSide, strategy: rawStrategy } = o;
  if (typeof rawSymbol !== "string" || typeof rawSide !== "string") return undefined;
  if (typeof rawStrategy !== "string") return undefined;
  const symbol = rawSymbol.trim();
  const lower = rawSide.trim().toLowerCase();
  const side = lower === "buy" || lower === "sell" ? lower : undefined;
  const strategy = rawStrategy.trim();
  if (symbol.length < 1 || symbol.length > 64 || !side || !STRATEGY_NAME.test(strategy)) {
    return undefined;
  }
  const alert: PineAlert = { symbol, side, strategy };
  for (const key of DECIMALS) {
    const v = o[key];
    if (v === undefined) keepAbsent(o, alert, key);
    else if ((alert[key] = toPositiveDecimal(v)) === undefined) return undefined;
  }
  const trail = o.trail_pct;
  if (trail === undefined) keepAbsent(o, alert, "trail_pct");
  else {
    const d = toPositiveDecimal(trail);
    if (d === undefined || !(Number(d) < 100)) return undefined;
    alert.trail_pct = d;
  }
  const { confidence: c, ts, idempotency_key: key } = o;
  if (c === undefined) keepAbsent(o, alert, "confidence");
  else if ((alert.confidence = toConfidence(c)) === undefined) return undefined;
  if (ts === undefined) keepAbsent(o, alert, "ts");
  else if (typeof ts !== "string" || !ISO_TIME.test(ts)) return undefined;
  else alert.ts = ts;
  if (key === undefined) keepAbsent(o, alert, "idempotency_key");
  else if (typeof key !== "string") return undefined;
  else {
    const trimmed = key.trim();
    if (trimmed.length < 1 || trimmed.length > 200) return undefined;
    alert.idempotency_key = trimmed;
  }
  return alert;
}

const DECIMALS = ["qty", "price", "sl", "tp"] as const;

/** zod keeps a field given as undefined (present, undefined): so does the fast path. */
function keepAbsent(o: object, alert: PineAlert, key: keyof PineAlert): void {
  if (key in o) (alert as Record<string, unknown>)[key] = undefined;
}

function short(v: unknown): string {
  const s = typeof v === "string" ? JSON.stringify(v) : String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
