/**
 * Exact decimal arithmetic on strings for the few sums done outside SQL (paper fees, averages):
 * values are scaled to 18-decimal BigInts, so no float ever touches an amount of money.
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
  cmp: (a: string | number, b: string | number) => {
    const d = toUnits(a) - toUnits(b);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  },
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
