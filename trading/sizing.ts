/**
 * Position sizing from risk, shared by live execution and the backtest so both trade the same
 * amounts: qty = equity × risk% / |entry − stop|, capped by the cash available and an optional
 * notional cap, truncated to the step. Pure; numbers in, decimal strings out. (Live execution
 * gives a market buy the cash less a margin, since it sizes at the ticker and fills above it;
 * the backtest sizes at the fill price it simulates.)
 */
export interface SizingInput {
  /** Account equity in the quote asset. */
  equityQuote: number;
  /** Cash available to spend in the quote asset (spot: no leverage). */
  freeQuote: number;
  /** Percent of equity risked between entry and stop (1–3 % rule; the caller caps it). */
  riskPct: number;
  entryPrice: number;
  stopPrice: number;
  /** Step of the quantity (e.g. 0.00001); absent → no truncation. */
  stepSize?: number;
  /** Largest notional one entry may have. */
  maxNotionalQuote?: number;
  /** Taker fee fraction, reserved from the cash so the buy and its fee both fit. */
  feeRate?: number;
}

export type SizingResult =
  | { ok: true; qty: string; notionalQuote: number; riskQuote: number }
  | { ok: false; reason: string };

/** The number of decimals of a step such as 0.001 (3) or 1e-8 (8). */
export function decimalsOf(step: number): number {
  if (!Number.isFinite(step) || step <= 0 || step >= 1) return 0;
  const s = step.toExponential();
  const [mantissa, exp] = s.split("e");
  const mantissaDecimals = (mantissa.split(".")[1] ?? "").length;
  return Math.max(0, mantissaDecimals - Number(exp));
}

/** Truncates `value` down to a multiple of `step` and prints it without float noise. */
export function floorToStep(value: number, step?: number): string {
  if (!step || step <= 0) return String(value);
  const d = decimalsOf(step);
  const units = Math.floor(value / step + 1e-9);
  return (units * step).toFixed(d);
}

export function sizePosition(input: SizingInput): SizingResult {
  const { equityQuote, freeQuote, riskPct, entryPrice, stopPrice } = input;
  if (!(entryPrice > 0) || !(stopPrice > 0)) {
    return { ok: false, reason: "entry and stop prices must be positive" };
  }
  if (stopPrice >= entryPrice) {
    return {
      ok: false,
      reason: `stop ${stopPrice} is not below the entry ${entryPrice} of a long position`,
    };
  }
  if (!(riskPct > 0) || riskPct > 3) {
    return { ok: false, reason: `risk ${riskPct}% is outside the 0–3 % rule` };
  }
  if (!(equityQuote > 0)) return { ok: false, reason: "no equity to size from" };
  const riskQuote = equityQuote * riskPct / 100;
  let qty = riskQuote / (entryPrice - stopPrice);
  const fee = input.feeRate ?? 0;
  const cashCap = freeQuote / (entryPrice * (1 + fee));
  qty = Math.min(qty, cashCap);
  if (input.maxNotionalQuote) qty = Math.min(qty, input.maxNotionalQuote / entryPrice);
  const qtyStr = floorToStep(qty, input.stepSize);
  if (!(Number(qtyStr) > 0)) {
    return { ok: false, reason: `sized quantity ${qty} is below the step ${input.stepSize}` };
  }
  return {
    ok: true,
    qty: qtyStr,
    notionalQuote: Number(qtyStr) * entryPrice,
    riskQuote: Number(qtyStr) * (entryPrice - stopPrice),
  };
}
