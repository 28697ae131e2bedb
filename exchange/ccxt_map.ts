/**
 * The ccxt boundary's translations: ccxt's errors mapped once into the classes of
 * core/errors.ts (the original kept as `cause`), and ccxt's orders, trades and markets into
 * the port's types with decimal strings.
 */
import { AuthError, RateLimitedError, RejectedError, TemporaryError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { redactText } from "../core/redact.ts";
import { numberToDecimal } from "../trading/decimal.ts";
import {
  ExchangeMaintenanceError,
  type ExchangeOrder,
  type Fill,
  type Market,
  OrderOutcomeUnknownError,
  UnclassifiedRejectionError,
} from "./port.ts";

// deno-lint-ignore no-explicit-any
type Any = any;
/** The ccxt module (loaded lazily by ccxt.ts): its error classes are matched here. */
type CcxtModule = Any;

export const str = (v: unknown): string | undefined =>
  v === undefined || v === null || v === ""
    ? undefined
    : typeof v === "number"
    ? (Number.isFinite(v) ? numberToDecimal(v) : undefined)
    : String(v);

/**
 * Maps a ccxt error once. `creating` marks a createOrder call, where a lost answer is unknown;
 * `retryAfter` is the Retry-After header (seconds) of the last response, when there was one.
 */
export function mapCcxtError(
  ccxt: CcxtModule,
  error: unknown,
  what: string,
  creating = false,
  retryAfter?: string,
) {
  if (!(error instanceof Error)) return error;
  const msg = `${what} failed: ${redactText(error.message).slice(0, 300)}`;
  const options = { cause: error };
  if (error instanceof ccxt.OnMaintenance) {
    return new ExchangeMaintenanceError(`${msg}; entries pause until it is back`, options);
  }
  if (error instanceof ccxt.DDoSProtection || error instanceof ccxt.RateLimitExceeded) {
    const seconds = Number(retryAfter);
    const waitMs = Number.isFinite(seconds) && seconds > 0
      ? Math.min(seconds * 1000, limits.backoffMaxMs * 60)
      : limits.exchangeRateLimitWaitMs;
    return new RateLimitedError(`${msg}; waiting ${Math.round(waitMs / 1000)} s`, waitMs, options);
  }
  if (error instanceof ccxt.AuthenticationError) {
    return new AuthError(`${msg}; check BROKER_API_KEY and BROKER_API_SECRET`, options);
  }
  if (error instanceof ccxt.NetworkError) {
    // Binance documents a 5xx or a lost answer on an order as "execution status unknown".
    if (creating) {
      return new OrderOutcomeUnknownError(`${msg}; the order is looked up, never resent`, options);
    }
    return new TemporaryError(msg, options);
  }
  if (error instanceof ccxt.ExchangeError) {
    // A refusal of a known kind is final. A bare ExchangeError is a code ccxt does not know:
    // on a create, the order may still have been placed.
    const final = [
      ccxt.InsufficientFunds,
      ccxt.InvalidOrder,
      ccxt.BadRequest,
      ccxt.PermissionDenied,
      ccxt.AccountSuspended,
      ccxt.NotSupported,
      ccxt.ArgumentsRequired,
    ].some((c) => typeof c === "function" && error instanceof c);
    return creating && !final
      ? new UnclassifiedRejectionError(`${msg}; the order is looked up again to be sure`, options)
      : new RejectedError(msg, options);
  }
  // Anything else on a create (a 5xx "unknown error", a malformed answer) leaves the order's
  // fate unknown as well.
  if (creating) {
    return new OrderOutcomeUnknownError(`${msg}; the order is looked up, never resent`, options);
  }
  return new TemporaryError(msg, options);
}

export function toOrder(o: Any): ExchangeOrder {
  const status = o.status === "closed" || o.status === "canceled" || o.status === "rejected" ||
      o.status === "expired"
    ? o.status
    : "open";
  return {
    // "" when the exchange gives no id (never the string "undefined"): the order is known by
    // its client order id, and its stored exchange id is left as it was.
    id: str(o.id) ?? "",
    clientOrderId: o.clientOrderId ?? undefined,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    status,
    qty: str(o.amount) ?? "0",
    filled: str(o.filled) ?? "0",
    avgPrice: str(o.average),
    fee: o.fee?.cost !== undefined
      ? { cost: str(o.fee.cost) ?? "0", currency: o.fee.currency }
      : undefined,
    fills: Array.isArray(o.trades) && o.trades.length > 0
      ? o.trades.map((t: Any) => toFill(t, o))
      : undefined,
    ts: o.timestamp ?? o.lastTradeTimestamp ?? 0,
  };
}

/** A ccxt trade; its `id` stays absent when ccxt has none (never the string "undefined"). */
export function toFill(t: Any, order?: Any): Fill {
  return {
    id: str(t.id),
    orderId: str(t.order) ?? str(order?.id) ?? "",
    clientOrderId: order?.clientOrderId,
    symbol: t.symbol ?? order?.symbol,
    side: t.side ?? order?.side,
    qty: str(t.amount) ?? "0",
    price: str(t.price) ?? "0",
    fee: str(t.fee?.cost) ?? "0",
    feeCurrency: t.fee?.currency,
    ts: t.timestamp ?? order?.timestamp ?? 0,
  };
}

export function toMarket(m: Any): Market {
  return {
    symbol: m.symbol,
    marketId: m.id,
    base: m.base,
    quote: m.quote,
    active: m.active !== false,
    tickSize: str(m.precision?.price),
    stepSize: str(m.precision?.amount),
    minQty: str(m.limits?.amount?.min),
    maxQty: str(m.limits?.amount?.max),
    marketMaxQty: str(m.limits?.market?.max),
    minNotional: str(m.limits?.cost?.min),
    takerFee: typeof m.taker === "number" ? m.taker : undefined,
  };
}
