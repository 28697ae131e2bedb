/**
 * The Pine `alert()` message (SPEC section 4, HTTP) as zod validates it. Numbers may arrive as
 * JSON numbers or as strings (TradingView placeholders are pasted inside quotes); both become
 * decimal strings, never floats.
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

const confidence = z.unknown().transform((v, ctx) => {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > 1) {
    ctx.addIssue({ code: "custom", message: `expected a number from 0 to 1 (got ${short(v)})` });
    return z.NEVER;
  }
  return n;
});

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
  ts: z.iso.datetime({ offset: true, error: "expected an ISO-8601 time" }).optional(),
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
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, error: "Alert must be a JSON object with symbol, side and strategy" };
  }
  const cleaned: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v !== null && v !== "") cleaned[k] = v;
  }
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

function short(v: unknown): string {
  const s = typeof v === "string" ? JSON.stringify(v) : String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
