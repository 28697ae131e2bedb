/**
 * The pure half of execution: a decision plus a snapshot (rules, price, balances, position)
 * in, an order plan or a reason to refuse out. No I/O, so every rule is unit-tested.
 * Spot only, long only: a buy opens or adds, a sell reduces or closes the open position.
 */
import { z } from "zod";
import type { TradingDecision } from "../trading/decision.ts";
import { sizePosition } from "../trading/sizing.ts";
import { dec, isPositiveDecimalString } from "../trading/decimal.ts";
import { UNIFIED_SYMBOL } from "../trading/symbol.ts";
import { sha256Hex } from "../core/hash.ts";
import { limits } from "../core/limits.ts";
import type { TradingRules } from "./markets.ts";
import { type LadderLevel, type LadderSlice, planLadder } from "../trading/ladder.ts";

const decimal = z.string().refine(isPositiveDecimalString, "expected a positive decimal string");

export const decisionSchema = z.object({
  symbol: z.string().regex(UNIFIED_SYMBOL, "expected a symbol like BTC/USDT"),
  action: z.enum(["buy", "sell"]),
  qty: decimal.optional(),
  price: decimal.optional(),
  sl: decimal.optional(),
  tp: decimal.optional(),
  trailPct: decimal.refine((d) => Number(d) < 100, "expected a percentage below 100").optional(),
  confidence: z.number().min(0).max(1).optional(),
  strategy: z.string().min(1).max(64),
  idempotencyKey: z.string().min(1).max(200),
  ts: z.string().optional(),
});

/** Validates a stored decision; the reason names every problem in one line. */
export function parseDecision(
  raw: unknown,
): { ok: true; decision: TradingDecision } | { ok: false; reason: string } {
  const r = decisionSchema.safeParse(raw);
  if (r.success) return { ok: true, decision: r.data };
  return {
    ok: false,
    reason: `Invalid decision: ${
      r.error.issues.map((i) => `${i.path.join(".") || "decision"} ${i.message}`).join("; ")
    }`,
  };
}

/**
 * Why an entry signal that waited too long (the service was down, the exchange in
 * maintenance) is not traded at today's price, or undefined when it is fresh enough. Exits
 * are still executed: closing late is safer than staying open. The age counts from the
 * signal's `ts`, else from its receipt; `maxAgeS` 0 turns the rule off. A strategy decision's
 * `ts` is its candle's open time, a period before the close that emitted it (the agent never
 * emits on a stale candle): its age counts from its receipt, so one stored before a crash or a
 * long pause is not traded hours later.
 */
export function staleEntry(
  alert: { source: string; receivedAt: Date; decision: TradingDecision },
  now: Date,
  maxAgeS: number,
): string | undefined {
  const d = alert.decision;
  if (!(maxAgeS > 0) || d.action !== "buy") return undefined;
  const at = d.ts && alert.source !== "strategy"
    ? Date.parse(d.ts)
    : new Date(alert.receivedAt).getTime();
  const ageS = (now.getTime() - at) / 1000;
  if (!Number.isFinite(ageS) || ageS <= maxAgeS) return undefined;
  return `the signal of ${new Date(at).toISOString()} is ${
    Math.round(ageS)
  } s old, over SIGNAL_MAX_AGE_S=${maxAgeS}; an entry is not traded that late`;
}

/**
 * The part of a client order id fixed by the idempotency key and the account: "pg" + 26 hex of
 * the SHA-256 of the key (the default account, as before accounts existed) or of the account's
 * name, a NUL and the key (any other account), so one signal traded on several accounts gets a
 * distinct, deterministic id on each.
 */
export function clientOrderIdPrefix(idempotencyKey: string, accountName?: string): string {
  const id = accountName === undefined ? idempotencyKey : `${accountName}\u0000${idempotencyKey}`;
  return `pg${sha256Hex(id).slice(0, 26)}`;
}

/**
 * A deterministic client order id (≤ 36 chars, Binance's alphabet): the key's prefix and the
 * attempt number (1 + orders already recorded for the key, so a key whose order was refused
 * before reaching the book can be tried again under a new id).
 */
export function clientOrderIdFor(
  idempotencyKey: string,
  attempt: number,
  accountName?: string,
): string {
  return `${clientOrderIdPrefix(idempotencyKey, accountName)}-${attempt}`;
}

export interface StrategyLimits {
  enabled: boolean;
  riskPct: number;
  stopPct: number;
  confidenceMin: number;
  maxNotionalQuote?: number;
  /** Target distance (%) of an entry without `tp`, from the price it trades at. */
  takeProfitPct?: number;
  /**
   * What an alert's `qty` may do (migration 0019): `cap` (the default) trades at most the
   * risk-based size, `trust` trades the alert's quantity as given.
   */
  qtyPolicy?: "cap" | "trust";
  /** The trailing stop distance (%) of its entries (migration 0020); unset: no trail. */
  trailPct?: number;
  /** How far (%) above the entry the high must be before the stop trails (0: at once). */
  trailActivationPct?: number;
  /**
   * A laddered take-profit (migration 0021): it replaces the single target, so an entry of the
   * strategy has no take_profit_price; its slices travel with the order to the position.
   */
  tpLadder?: LadderLevel[];
}

export interface PlanInput {
  decision: TradingDecision;
  rules: TradingRules;
  quote: string;
  /** The market price now (ticker last): the sizing and notional price of a market order. */
  refPrice: string;
  equityQuote: number;
  freeQuote: number;
  strategy: StrategyLimits;
  /** Base quantity of the open position, if any. */
  positionQty?: string;
  /** What active sell orders still have to sell of it (qty − filled): not free to sell again. */
  sellingQty?: string;
  /** The open position's stop, if any: what a sell of part leaves must still rest a stop. */
  positionStop?: string;
  /**
   * A take-profit ladder's slice (the Risk agent's sell of part): its entry's plan checked what
   * each slice leaves (trading/ladder.ts), at the stop that moves to break even after the first.
   */
  ladderSlice?: boolean;
  /**
   * How far (%) below the stop the limit of the position's resting stop-limit will sit
   * (STOP_LIMIT_OFFSET_PCT), when stops rest on the exchange: an entry's stop exit must then
   * reach the minimum notional at that limit, which is where the exchange measures it.
   */
  stopLimitOffsetPct?: number;
}

export interface OrderPlan {
  side: "buy" | "sell";
  type: "market" | "limit";
  purpose: "entry" | "exit";
  qty: string;
  price?: string;
  refPrice: string;
  /** The invalidation level of an entry (its implied stop exit). */
  stopPrice?: string;
  takeProfitPrice?: string;
  /** Where an entry's quantity came from (and how its ladder was merged), as its notifications say it. */
  sizingNote?: string;
  /** An entry's trail: the alert's `trailPct`, else the strategy's (absent: no trail). */
  trail?: { pct: string; activationPct: string };
  /** The take-profit slices of a laddered strategy's entry (planLadder over its exit quantity). */
  ladder?: LadderSlice[];
}

export type PlanResult = { ok: true; plan: OrderPlan } | { ok: false; reason: string };

const refuse = (reason: string): PlanResult => ({ ok: false, reason });

/** The share of the free cash a market buy may cost at the ticker (marketBuyCashMarginPct). */
const MARKET_CASH_SHARE = 1 - limits.marketBuyCashMarginPct / 100;

/**
 * The cash a planned buy may take from its pass's balance: its cost at its limit (a market
 * buy's at the ticker, with the margin its sizing left for a fill above it), fee included.
 */
export function cashHeldBy(plan: OrderPlan, refPrice: string, takerFee: string | undefined) {
  const cost = Number(plan.qty) * Number(plan.price ?? refPrice) * (1 + Number(takerFee ?? 0));
  return plan.type === "market" ? cost / MARKET_CASH_SHARE : cost;
}

/** The limit of a stop-limit sits this far (%) below its stop unless configured. */
export const DEFAULT_STOP_LIMIT_OFFSET_PCT = 0.5;

/** Assumed when the rules carry no taker fee: Binance's spot rate. */
export const DEFAULT_TAKER_FEE = "0.001";

// Longer than ~80 lines: the plan is one sequence of checks, each with its own refusal message, read top to bottom.
export function planOrder(input: PlanInput): PlanResult {
  const { decision: d, rules, strategy, quote } = input;
  const what = `Cannot trade "${d.idempotencyKey}"`;
  // Disabling a strategy stops its entries; an exit (a stop-loss from the Risk agent above
  // all) still closes what it opened. Webhook sells of a disabled strategy stop at the intake.
  if (!strategy.enabled && d.action === "buy") {
    return refuse(`${what}: strategy "${d.strategy}" is disabled`);
  }
  if (d.confidence !== undefined && d.confidence < strategy.confidenceMin) {
    return refuse(
      `${what}: confidence ${d.confidence} is below the strategy's minimum ${strategy.confidenceMin}`,
    );
  }
  const tick = rules.tick_size;
  const step = rules.step_size;
  const price = d.price && tick ? dec.roundToStep(d.price, tick) : d.price;
  const entry = price ?? input.refPrice;
  const floor = (q: string) => (step ? dec.floorToStep(q, step) : dec.normalize(q));

  let qty: string;
  let stopPrice: string | undefined;
  let sizingNote: string | undefined;
  if (d.action === "sell") {
    const held = input.positionQty ?? "0";
    if (dec.cmp(held, "0") <= 0) return refuse(`${what}: no open ${d.symbol} position to sell`);
    const selling = input.sellingQty ?? "0";
    const free = dec.sub(held, selling);
    if (dec.cmp(free, "0") <= 0) {
      return refuse(
        `${what}: the ${held} held of ${d.symbol} is already being sold by active sell orders`,
      );
    }
    qty = floor(d.qty && dec.cmp(d.qty, free) < 0 ? d.qty : free);
    // A market sell of part that would leave a rest too small for an order of its own (under
    // the minimum quantity, or the minimum notional where its stop would rest) sells all that
    // is free: such a rest could neither rest a stop on the exchange (refused for good) nor be
    // sold by the next exit.
    const rest = dec.sub(floor(free), qty);
    if (!price && !input.ladderSlice && dec.cmp(rest, "0") > 0 && !sellableRest(rest, input)) {
      sizingNote = `qty ${qty} from the alert raised to all ${
        floor(free)
      } free: the ${rest} left would be too small for an order of its own`;
      qty = floor(free);
    }
  } else {
    const rawStop = d.sl ??
      dec.mul(entry, String(1 - strategy.stopPct / 100), 12);
    // The stop exit is a sell: rounding up keeps it never looser than planned.
    stopPrice = tick ? dec.roundToStep(rawStop, tick, "up") : rawStop;
    if (dec.cmp(stopPrice, entry) >= 0) {
      return refuse(
        `${what}: stop ${stopPrice} is not below the entry ${entry} of a long position`,
      );
    }
    const sized = sizeEntry(input, entry, stopPrice, floor);
    if (!sized.ok) return refuse(`${what}: ${sized.reason}`);
    qty = sized.qty;
    sizingNote = sized.note;
  }
  // The exchange refuses an order above the market's largest (LOT_SIZE, or MARKET_LOT_SIZE for a
  // market order, lower on some markets): a larger entry buys the largest, and a larger exit
  // sells it, the rest left for the next exit.
  const largest = maxQtyOf(rules, !price);
  if (largest && dec.cmp(qty, largest) > 0) {
    let capped = floor(largest);
    let rested = "";
    // A market sell leaves a rest the next exit can sell, as a sell of part does above: the
    // largest alone could leave one under the minimums, which no order could ever sell.
    if (d.action === "sell" && !price) {
      const free = floor(dec.sub(input.positionQty ?? "0", input.sellingQty ?? "0"));
      const lower = sellableCap(free, capped, input, floor);
      if (lower !== capped) {
        rested = ` less what leaves ${dec.sub(free, lower)} sellable`;
        capped = lower;
      }
    }
    sizingNote = `${sizingNote ? `${sizingNote}; ` : ""}qty ${qty} capped to ${capped}, the ` +
      `market's largest ${price ? "" : "market "}order${rested}` +
      (d.action === "sell" ? ` (the rest is left for the next exit)` : "");
    qty = capped;
  }
  if (dec.cmp(qty, "0") <= 0 || (rules.min_qty && dec.cmp(qty, rules.min_qty) < 0)) {
    return refuse(`${what}: quantity ${qty} is below the minimum ${rules.min_qty ?? step}`);
  }
  const minNotional = rules.min_notional;
  if (minNotional) {
    const notional = dec.mul(qty, entry, 8);
    if (dec.cmp(notional, minNotional) < 0) {
      return refuse(
        `${what}: notional ${notional} ${quote} is below the minimum ${minNotional}`,
      );
    }
    if (stopPrice) {
      const exitQty = exitQtyOf(qty, rules, floor);
      const exitPrice = input.stopLimitOffsetPct === undefined
        ? stopPrice
        : stopLimitPrice(stopPrice, rules, input.stopLimitOffsetPct);
      const exitNotional = dec.mul(exitQty, exitPrice, 8);
      if (dec.cmp(exitNotional, minNotional) < 0) {
        const at = exitPrice === stopPrice
          ? `at ${stopPrice}`
          : `at ${exitPrice} (the limit of its stop ${stopPrice} on the exchange)`;
        return refuse(
          `${what}: its stop exit of ${exitQty} ${at} would be ${exitNotional} ${quote}, below the minimum ${minNotional}`,
        );
      }
    }
  }
  const ladder = d.action === "buy" && strategy.tpLadder?.length
    ? planLadder(strategy.tpLadder, entry, exitQtyOf(qty, rules, floor), stopPrice!, rules)
    : undefined;
  if (ladder && !ladder.ok) return refuse(`${what}: ${ladder.reason}`);
  if (ladder?.merged.length) {
    sizingNote = `${sizingNote}; take-profit ladder: ${ladder.merged.join("; ")}`;
  }
  // A ladder replaces the single target: its slices are the position's targets.
  const takeProfitPrice = d.action === "buy" && !ladder
    ? targetOf(d.tp, entry, strategy, tick)
    : undefined;
  // A target at or below the entry (a market buy's alert `tp` under the price) would sell the
  // position on the next pass, at a loss.
  if (takeProfitPrice !== undefined && dec.cmp(takeProfitPrice, entry) <= 0) {
    return refuse(
      `${what}: target ${takeProfitPrice} is not above the entry ${entry} of a long position`,
    );
  }
  return {
    ok: true,
    plan: {
      side: d.action,
      type: price ? "limit" : "market",
      purpose: d.action === "buy" ? "entry" : "exit",
      qty,
      price,
      refPrice: tick ? dec.roundToStep(input.refPrice, tick) : input.refPrice,
      stopPrice,
      takeProfitPrice,
      sizingNote,
      trail: d.action === "buy" ? trailOf(d, strategy) : undefined,
      ladder: ladder?.slices,
    },
  };
}

/** The largest order the market takes: `max_qty`, and `market_max_qty` for a market order. */
function maxQtyOf(rules: TradingRules, market: boolean): string | undefined {
  const caps = [rules.max_qty, market ? rules.market_max_qty : undefined].filter(
    (c): c is string => c !== undefined && c !== "" && dec.cmp(c, "0") > 0,
  );
  return caps.reduce<string | undefined>((a, c) => (a && dec.cmp(a, c) <= 0 ? a : c), undefined);
}

/**
 * Whether what a sell of part leaves can still be sold on its own: at least the minimum
 * quantity, and the minimum notional at the price its protection sells at (the limit of its
 * stop-limit when stops rest on the exchange, the stop for the software watch, the market
 * without a stop).
 */
function sellableRest(rest: string, input: PlanInput): boolean {
  const { rules } = input;
  if (rules.min_qty && dec.cmp(rest, rules.min_qty) < 0) return false;
  if (!rules.min_notional) return true;
  return dec.cmp(dec.mul(rest, restPrice(input), 8), rules.min_notional) >= 0;
}

/** The price a rest's protection sells at (sellableRest). */
function restPrice(input: PlanInput): string {
  const stop = input.positionStop;
  return stop === undefined
    ? input.refPrice
    : input.stopLimitOffsetPct === undefined
    ? stop
    : stopLimitPrice(stop, input.rules, input.stopLimitOffsetPct);
}

/**
 * A market sell of `free` capped to `capped` (the market's largest): lowered so that what it
 * leaves is the smallest rest that can still be sold (sellableRest), when the cap alone would
 * leave less; `capped` itself when it leaves enough, or when no lower sell would do.
 */
function sellableCap(
  free: string,
  capped: string,
  input: PlanInput,
  floor: (q: string) => string,
): string {
  const rest = dec.sub(free, capped);
  if (dec.cmp(rest, "0") <= 0 || sellableRest(rest, input)) return capped;
  const { rules } = input;
  const step = rules.step_size;
  const up = (q: string) => (step ? dec.roundToStep(q, step, "up") : q);
  let least = up(rules.min_qty ?? step ?? "0");
  if (rules.min_notional) {
    const byNotional = up(dec.div(rules.min_notional, restPrice(input)));
    if (dec.cmp(byNotional, least) > 0) least = byNotional;
  }
  if (!sellableRest(least, input)) return capped;
  const lower = floor(dec.sub(free, least));
  const leaves = dec.sub(free, lower);
  if (
    dec.cmp(lower, "0") <= 0 || dec.cmp(lower, capped) > 0 || !sellableRest(lower, input) ||
    !sellableRest(leaves, input)
  ) {
    return capped;
  }
  return lower;
}

/**
 * The limit of a stop-limit sell: `offsetPct` below its stop, rounded down to the tick, so a
 * gap through the stop still fills (the stop itself is already on the tick, rounded up).
 */
export function stopLimitPrice(stopPrice: string, rules: TradingRules, offsetPct: number): string {
  const raw = dec.mul(stopPrice, String(1 - offsetPct / 100), 12);
  return rules.tick_size ? dec.roundToStep(raw, rules.tick_size, "down") : raw;
}

/**
 * What an entry leaves to sell: the exchange may take the buy's fee in the base asset, so the
 * quantity less the fee, truncated to the step. The stop exit and the ladder are checked on it.
 */
function exitQtyOf(qty: string, rules: TradingRules, floor: (q: string) => string): string {
  return floor(dec.mul(qty, dec.sub("1", rules.taker_fee ?? DEFAULT_TAKER_FEE)));
}

/**
 * An entry's target: the alert's `tp`, else the strategy's distance from the price the entry
 * trades at (a market alert has no price of its own: the reference price stands in, as it does
 * for the stop). Rounded down to the tick, so a target just reached is not missed by a tick.
 */
function targetOf(
  tp: string | undefined,
  entry: string,
  strategy: StrategyLimits,
  tick: string | undefined,
): string | undefined {
  if (tp !== undefined) return tp;
  if (!(Number(strategy.takeProfitPct) > 0)) return undefined;
  const raw = dec.mul(entry, String(1 + strategy.takeProfitPct! / 100), 12);
  return tick ? dec.roundToStep(raw, tick, "down") : raw;
}

/** An entry's trail: the alert's distance wins over the strategy's; the activation is the strategy's. */
function trailOf(d: TradingDecision, strategy: StrategyLimits): OrderPlan["trail"] {
  const pct = d.trailPct ?? (strategy.trailPct ? String(strategy.trailPct) : undefined);
  if (pct === undefined) return undefined;
  return { pct, activationPct: String(strategy.trailActivationPct ?? 0) };
}

const pct = (n: number) => Number(n.toFixed(4)).toString();

/**
 * An entry's quantity and where it came from. Without `qty`: the risk-based size (1–3 % of
 * equity down to the stop, capped by the free cash and the strategy's notional cap). With
 * `qty` under the `cap` policy: the smaller of the two; under `trust`: the alert's quantity,
 * capped only by the notional cap and refused when the cash does not cover it.
 */
function sizeEntry(
  input: PlanInput,
  entry: string,
  stopPrice: string,
  floor: (q: string) => string,
): { ok: true; qty: string; note: string } | { ok: false; reason: string } {
  const { decision: d, rules, strategy, quote } = input;
  const fee = Number(rules.taker_fee ?? 0);
  const riskPct = Math.min(strategy.riskPct, 3);
  const step = rules.step_size;
  // A market buy fills at the asks, above the last price it is sized at: it may spend the cash
  // less a margin, or a move of the price between the ticker and the fill would make the
  // exchange refuse it for the balance.
  const market = !d.price;
  const cash = market ? input.freeQuote * MARKET_CASH_SHARE : input.freeQuote;
  const cashText = `the free ${input.freeQuote.toFixed(2)} ${quote}${
    market ? ` less ${pct(limits.marketBuyCashMarginPct)} % for the market's price` : ""
  }`;
  if (d.qty && strategy.qtyPolicy === "trust") {
    let qty = floor(d.qty);
    let note = `qty ${qty} from the alert (qty policy trust)`;
    if (strategy.maxNotionalQuote && Number(qty) * Number(entry) > strategy.maxNotionalQuote) {
      qty = floor(String(strategy.maxNotionalQuote / Number(entry)));
      note = `qty ${floor(d.qty)} from the alert capped to ${qty} by the strategy's max notional ${
        pct(strategy.maxNotionalQuote)
      } ${quote}`;
    }
    const cost = Number(qty) * Number(entry) * (1 + fee);
    if (cost > cash) {
      return { ok: false, reason: `cost ${cost.toFixed(2)} ${quote} is more than ${cashText}` };
    }
    return { ok: true, qty, note };
  }
  const sized = sizePosition({
    equityQuote: input.equityQuote,
    freeQuote: cash,
    riskPct,
    entryPrice: Number(entry),
    stopPrice: Number(stopPrice),
    stepSize: step ? Number(step) : undefined,
    maxNotionalQuote: strategy.maxNotionalQuote,
    feeRate: fee,
  });
  // Which cap bound the size: the risk, the free cash or the strategy's notional cap.
  const byRisk = input.equityQuote * riskPct / 100 / (Number(entry) - Number(stopPrice));
  const byCash = cash / (Number(entry) * (1 + fee));
  const byNotional = strategy.maxNotionalQuote
    ? strategy.maxNotionalQuote / Number(entry)
    : Infinity;
  const bound = byRisk <= byCash && byRisk <= byNotional
    ? `${pct(riskPct)} % risk`
    : byCash <= byNotional
    ? cashText
    : `the strategy's max notional ${pct(strategy.maxNotionalQuote!)} ${quote}`;
  // A refusal names what bound the size (so "the free 0.01 USDT" says why it is so small).
  if (!sized.ok) return { ok: false, reason: `${sized.reason} (sized by ${bound})` };
  const sizedQty = dec.normalize(sized.qty);
  if (!d.qty) return { ok: true, qty: sizedQty, note: `qty ${sizedQty} sized by ${bound}` };
  const asked = floor(d.qty);
  if (dec.cmp(asked, sizedQty) <= 0) {
    return { ok: true, qty: asked, note: `qty ${asked} from the alert (within ${bound})` };
  }
  return {
    ok: true,
    qty: sizedQty,
    note: `qty ${dec.normalize(d.qty)} from the alert capped to ${sizedQty} by ${bound}`,
  };
}
