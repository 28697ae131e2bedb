/**
 * Exact decimal arithmetic on strings for the few sums done outside SQL (paper fees, averages,
 * stops derived from a percentage), and the parsing of inbound decimals: values are BigInts
 * with a scale, so no float ever touches an amount of money. The one decimal module.
 */
const SCALE = 18;
const FACTOR = 10n ** BigInt(SCALE);

function toUnits(value: string | number): bigint {
  const s = typeof value === "number" ? numberToDecimal(value) : value.trim();
  const m = /^(-)?(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) {
    throw new Error(`Not a decimal number: "${s}"`);
  }
  const frac = (m[3] ?? "").slice(0, SCALE).padEnd(SCALE, "0");
  const units = BigInt(m[2] || "0") * FACTOR + BigInt(frac || "0");
  return m[1] ? -units : units;
}

function fromUnits(units: bigint, decimals = SCALE): string {
  const negative = units < 0n;
  let abs = negative ? -units : units;
  // Truncate toward zero to the wanted number of decimals.
  const drop = 10n ** BigInt(SCALE - decimals);
  abs = abs / drop;
  const f = 10n ** BigInt(decimals);
  const whole = abs / f;
  let frac = decimals > 0 ? (abs % f).toString().padStart(decimals, "0") : "";
  frac = frac.replace(/0+$/, "");
  const out = frac ? `${whole}.${frac}` : `${whole}`;
  return negative && out !== "0" ? `-${out}` : out;
}

/** A float as a plain decimal string (no exponent), e.g. 1e-8 → "0.00000001". */
export function numberToDecimal(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`Not a finite number: ${n}`);
  const s = String(n);
  if (!/e/i.test(s)) return s;
  return n.toFixed(20).replace(/\.?0+$/, "");
}

/** A decimal at its own scale: `units` × 10^-`scale`, exact however many decimals it has. */
interface Scaled {
  units: bigint;
  scale: number;
}

function parseScaled(value: string | number): Scaled {
  const s = typeof value === "number" ? numberToDecimal(value) : value.trim();
  const m = /^(-)?(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) {
    throw new Error(`Not a decimal number: "${s}"`);
  }
  const frac = m[3] ?? "";
  const units = BigInt((m[2] || "0") + frac);
  return { units: m[1] ? -units : units, scale: frac.length };
}

function formatScaled({ units, scale }: Scaled): string {
  const neg = units < 0n;
  const digits = (neg ? -units : units).toString().padStart(scale + 1, "0");
  const int = digits.slice(0, digits.length - scale);
  const frac = digits.slice(digits.length - scale).replace(/0+$/, "");
  return `${neg ? "-" : ""}${int}${frac ? `.${frac}` : ""}`;
}

/** Compares two decimals exactly (no truncation at 18 decimals): -1, 0 or 1. */
export function compareDecimal(a: string | number, b: string | number): -1 | 0 | 1 {
  const x = parseScaled(a);
  const y = parseScaled(b);
  const scale = Math.max(x.scale, y.scale);
  const xu = x.units * 10n ** BigInt(scale - x.scale);
  const yu = y.units * 10n ** BigInt(scale - y.scale);
  return xu < yu ? -1 : xu > yu ? 1 : 0;
}

/** price × (1 + sign × pct / 100), in decimal arithmetic, rounded half up past 8+ decimals. */
export function scaleByPct(price: string, pct: string, sign: 1 | -1): string {
  const p = parseScaled(price);
  const q = parseScaled(pct);
  // factor = 100 ± pct at the scale of pct; product at scale p.scale + q.scale + 2.
  const hundred = 100n * 10n ** BigInt(q.scale);
  const factor = hundred + BigInt(sign) * q.units;
  const product = p.units * factor;
  const fromScale = p.scale + q.scale + 2;
  const toScale = Math.max(p.scale + 2, 8);
  if (toScale >= fromScale) {
    return formatScaled({ units: product * 10n ** BigInt(toScale - fromScale), scale: toScale });
  }
  const div = 10n ** BigInt(fromScale - toScale);
  const rounded = (product + div / 2n) / div;
  return formatScaled({ units: rounded, scale: toScale });
}

/** A stored amount: digits with an optional fraction, greater than zero ("0.01", not "1e-2"). */
export function isPositiveDecimalString(v: string): boolean {
  return /^\d+(\.\d+)?$/.test(v) && Number(v) > 0;
}

/** An inbound decimal: at most 20 integer digits and 18 decimals, the columns' precision. */
const INBOUND_DECIMAL = /^\d{1,20}(\.\d{1,18})?$/;

/**
 * A positive decimal given as a JSON number or a string, normalized ("0.0100" → "0.01");
 * undefined when it is not one (zero, negative, exponent form in a string, too many digits).
 */
export function toPositiveDecimal(value: unknown): string | undefined {
  let text: string;
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value <= 0) return undefined;
    // toFixed avoids the exponent form of very small or large numbers ("1e-7"); a number it
    // would round (more than 18 decimals: 1.234567e-15) is refused, as its text would be.
    text = /e/i.test(String(value)) ? value.toFixed(18) : String(value);
    if (text !== String(value) && Number(text) !== value) return undefined;
  } else if (typeof value === "string") {
    text = value.trim();
  } else {
    return undefined;
  }
  if (!INBOUND_DECIMAL.test(text)) return undefined;
  let [int, frac = ""] = text.split(".");
  int = int.replace(/^0+(?=\d)/, "");
  frac = frac.replace(/0+$/, "");
  if (/^0*$/.test(int) && frac === "") return undefined;
  return frac ? `${int}.${frac}` : int;
}

export const dec = {
  normalize: (a: string | number) => fromUnits(toUnits(a)),
  add: (a: string | number, b: string | number) => fromUnits(toUnits(a) + toUnits(b)),
  sub: (a: string | number, b: string | number) => fromUnits(toUnits(a) - toUnits(b)),
  /** a × b truncated to `decimals` (default 18). */
  mul: (a: string | number, b: string | number, decimals = SCALE) =>
    fromUnits(toUnits(a) * toUnits(b) / FACTOR, decimals),
  /** a ÷ b truncated to `decimals`. */
  div: (a: string | number, b: string | number, decimals = SCALE) =>
    fromUnits(toUnits(a) * FACTOR / toUnits(b), decimals),
  cmp: compareDecimal,
  /** Truncates down to a multiple of `step` (a positive decimal string). */
  floorToStep: (a: string | number, step: string) => {
    const s = toUnits(step);
    if (s <= 0n) return fromUnits(toUnits(a));
    const u = toUnits(a);
    const q = u / s - (u < 0n && u % s !== 0n ? 1n : 0n);
    return fromUnits(q * s);
  },
  /** Rounds to a multiple of `step`: "nearest" (half up), "down" or "up". */
  roundToStep: (a: string | number, step: string, mode: "nearest" | "down" | "up" = "nearest") => {
    const s = toUnits(step);
    if (s <= 0n) return fromUnits(toUnits(a));
    const u = toUnits(a);
    let q = u / s;
    const r = u - q * s;
    if (mode === "up" && r > 0n) q += 1n;
    if (mode === "nearest" && r * 2n >= s) q += 1n;
    return fromUnits(q * s);
  },
};
