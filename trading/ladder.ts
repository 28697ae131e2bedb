/**
 * The laddered take-profit of a long position, as pure rules shared by the entry plan, the Risk
 * agent and the backtest: "4:50,8:50" sells 50 % of the entry at +4 % and the rest at +8 %.
 *
 * Every slice and every remainder must be sellable: a slice below the market's minimum quantity
 * or notional (at its target, after the buy's fee) joins the next slice, and so does a slice
 * whose remainder could not be sold at the stop afterwards; a last slice too small joins the one
 * before. A remainder that can never be sold is the trap this avoids. After the first slice
 * fills, the stop moves up to break even: the entry plus the fees of both sides.
 */
import { dec } from "./decimal.ts";

export interface LadderLevel {
  /** How far (%) above the entry this slice is sold; ascending, > 0. */
  pct: number;
  /** The share (%) of the entry quantity it sells; the shares add up to 100. */
  share: number;
}

/** A slice as planned for one entry: its target (rounded down to the tick) and quantity. */
export interface LadderSlice {
  pct: number;
  share: number;
  price: string;
  qty: string;
}

export interface LadderRules {
  tick_size?: string;
  step_size?: string;
  min_qty?: string;
  min_notional?: string;
}

/** Parses "4:50,8:50"; throws an Error naming what is wrong. */
export function parseLadder(text: string): LadderLevel[] {
  const parts = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (parts.length === 0) throw new Error(`the ladder "${text}" has no levels (e.g. "4:50,8:50")`);
  const levels = parts.map((part) => {
    const m = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$/.exec(part);
    if (!m) throw new Error(`ladder level "${part}" is not PCT:SHARE (e.g. "4:50")`);
    const level = { pct: Number(m[1]), share: Number(m[2]) };
    if (!(level.pct > 0)) throw new Error(`ladder level "${part}": the distance must be above 0 %`);
    if (!(level.share > 0)) throw new Error(`ladder level "${part}": the share must be above 0 %`);
    return level;
  });
  for (let i = 1; i < levels.length; i++) {
    if (levels[i].pct <= levels[i - 1].pct) {
      throw new Error(`ladder levels must rise: ${levels[i].pct} % after ${levels[i - 1].pct} %`);
    }
  }
  const total = levels.reduce((s, l) => s + l.share, 0);
  if (Math.abs(total - 100) > 1e-9) {
    throw new Error(`the ladder's shares add up to ${Number(total.toFixed(6))} %, not 100 %`);
  }
  return levels;
}

/** The ladder as the strategies table and the CLI show it: "4:50,8:50". */
export const formatLadder = (levels: readonly LadderLevel[]) =>
  levels.map((l) => `${l.pct}:${l.share}`).join(",");

export type LadderPlan =
  | { ok: true; slices: LadderSlice[]; merged: string[] }
  | { ok: false; reason: string };

/**
 * The slices of `qty` (what is left to sell after the buy's fee) bought at `entry`, with the
 * market's rules, and the merges that made every slice and remainder sellable. `stop` is the
 * price a remainder may have to be sold at. Refused when even one slice of everything is not.
 */
export function planLadder(
  levels: readonly LadderLevel[],
  entry: string,
  qty: string,
  stop: string,
  rules: LadderRules,
): LadderPlan {
  const floor = (q: string) => rules.step_size ? dec.floorToStep(q, rules.step_size) : q;
  const priceOf = (pct: number) => {
    const raw = dec.mul(entry, String(1 + pct / 100), 12);
    return rules.tick_size ? dec.roundToStep(raw, rules.tick_size, "down") : dec.normalize(raw);
  };
  const tooSmall = (q: string, price: string): string | undefined => {
    if (dec.cmp(q, "0") <= 0 || (rules.min_qty && dec.cmp(q, rules.min_qty) < 0)) {
      return `quantity ${q} is below the minimum ${rules.min_qty ?? "above 0"}`;
    }
    const notional = dec.mul(q, price, 8);
    if (rules.min_notional && dec.cmp(notional, rules.min_notional) < 0) {
      return `${q} at ${price} is ${notional}, below the minimum notional ${rules.min_notional}`;
    }
    return undefined;
  };
  let shares = levels.map((l) => ({ pct: l.pct, share: l.share }));
  const merged: string[] = [];
  for (let guard = 0; guard <= levels.length; guard++) {
    const slices = sliceQty(shares, qty, floor).map((q, i) => ({
      ...shares[i],
      price: priceOf(shares[i].pct),
      qty: q,
    }));
    const bad = firstUnsellable(slices, stop, tooSmall);
    if (bad === undefined) return { ok: true, slices, merged };
    if (slices.length === 1) {
      return { ok: false, reason: `the take-profit ladder cannot be sold: ${bad.why}` };
    }
    const into = bad.index < slices.length - 1 ? bad.index + 1 : bad.index - 1;
    merged.push(
      `the ${shares[bad.index].share} % at +${shares[bad.index].pct} % joins +${
        shares[into].pct
      } % (${bad.why})`,
    );
    shares[into] = { pct: shares[into].pct, share: shares[into].share + shares[bad.index].share };
    shares = shares.filter((_, i) => i !== bad.index);
  }
  return { ok: false, reason: "the take-profit ladder cannot be sold" };
}

/** Each share of `qty`, truncated to the step; the last slice takes the rest. */
function sliceQty(
  shares: readonly { share: number }[],
  qty: string,
  floor: (q: string) => string,
): string[] {
  let left = qty;
  return shares.map((s, i) => {
    const q = i === shares.length - 1 ? floor(left) : floor(dec.mul(qty, String(s.share / 100)));
    left = dec.sub(left, q);
    return q;
  });
}

/** The first slice that cannot be sold at its target, or whose remainder not at the stop. */
function firstUnsellable(
  slices: readonly LadderSlice[],
  stop: string,
  tooSmall: (q: string, price: string) => string | undefined,
): { index: number; why: string } | undefined {
  let remainder = slices.reduce((s, x) => dec.add(s, x.qty), "0");
  for (let i = 0; i < slices.length; i++) {
    const own = tooSmall(slices[i].qty, slices[i].price);
    if (own) return { index: i, why: own };
    remainder = dec.sub(remainder, slices[i].qty);
    const rest = dec.cmp(remainder, "0") > 0 ? tooSmall(remainder, stop) : undefined;
    if (rest) return { index: i, why: `the remainder after it: ${rest}` };
  }
  return undefined;
}

/**
 * The stop that loses nothing once the first slice filled: the entry plus the buy's and the
 * sell's fee (`feeRate` each side), rounded up to the tick.
 */
export function breakevenStop(entry: string, feeRate: string, tick?: string): string {
  const raw = dec.div(dec.mul(entry, dec.add("1", feeRate)), dec.sub("1", feeRate), 12);
  return tick ? dec.roundToStep(raw, tick, "up") : dec.normalize(raw);
}
