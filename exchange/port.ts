/**
 * The narrow port to an exchange. The ccxt adapter and the paper broker both implement it;
 * agents depend only on this. Errors thrown are the classes of core/errors.ts (temporary,
 * rate-limited, rejected, auth), mapped once inside the adapter.
 */
import { MaintenanceError, RejectedError, TemporaryError } from "../core/errors.ts";

export interface Market {
  /** Unified symbol, e.g. "BTC/USDT". */
  symbol: string;
  /** The exchange's own id, e.g. "BTCUSDT". */
  marketId: string;
  base: string;
  quote: string;
  active: boolean;
  /** Decimal strings; absent when the exchange does not say. */
  tickSize?: string;
  stepSize?: string;
  minQty?: string;
  maxQty?: string;
  /** The largest market order (Binance's MARKET_LOT_SIZE), below `maxQty` on some markets. */
  marketMaxQty?: string;
  minNotional?: string;
  /** Taker fee as a fraction (0.001 = 0.1 %). */
  takerFee?: number;
}

/** One OHLCV bar; market data may be numbers (indicators), the ledger never is. */
export interface Candle {
  /** Open time, epoch milliseconds (UTC). */
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface Ticker {
  symbol: string;
  last: number;
  bid?: number;
  ask?: number;
  ts: number;
}

export type OrderType = "market" | "limit" | "stop_market" | "stop_limit";

export interface OrderRequest {
  symbol: string;
  side: "buy" | "sell";
  type: OrderType;
  /** Base quantity, already normalized to the step. */
  qty: string;
  price?: string;
  stopPrice?: string;
  /** Deterministic id recorded in `orders` before the call; at most 36 characters. */
  clientOrderId: string;
}

export interface Fill {
  /**
   * The exchange's trade id; absent when the exchange gives none (ccxt leaves it undefined on
   * some exchanges): such fills are recorded from what they add up to, never one per trade
   * (execution/order_updates.ts).
   */
  id?: string;
  orderId: string;
  clientOrderId?: string;
  symbol: string;
  side: "buy" | "sell";
  qty: string;
  price: string;
  fee: string;
  feeCurrency?: string;
  /** Epoch milliseconds. */
  ts: number;
}

export interface ExchangeOrder {
  id: string;
  clientOrderId?: string;
  symbol: string;
  side: "buy" | "sell";
  type: string;
  status: "open" | "closed" | "canceled" | "rejected" | "expired";
  qty: string;
  filled: string;
  avgPrice?: string;
  fee?: { cost: string; currency?: string };
  /** Fills of this order when the exchange returned them with it. */
  fills?: Fill[];
  ts: number;
}

export interface Balance {
  free: string;
  used: string;
  total: string;
}

export interface Exchange {
  readonly id: string;
  readonly mode: "paper" | "sandbox" | "live";
  loadMarkets(): Promise<Market[]>;
  fetchOHLCV(symbol: string, timeframe: string, since?: number, limit?: number): Promise<Candle[]>;
  fetchTicker(symbol: string): Promise<Ticker>;
  fetchBalance(): Promise<Record<string, Balance>>;
  createOrder(request: OrderRequest): Promise<ExchangeOrder>;
  cancelOrder(clientOrderId: string, symbol: string): Promise<void>;
  /** The order with this client id, or null when the exchange says it does not exist. */
  fetchOrderByClientId(clientOrderId: string, symbol: string): Promise<ExchangeOrder | null>;
  fetchOpenOrders(symbol?: string): Promise<ExchangeOrder[]>;
  /**
   * The account's trades on `symbol`. With `orderId` (the exchange's order id), that order's
   * trades only, however many other trades there were; `since` is then ignored (Binance does
   * not combine the two).
   */
  fetchMyTrades(symbol: string, since?: number, options?: { orderId?: string }): Promise<Fill[]>;
  close?(): Promise<void>;
}

/**
 * A create call whose outcome is unknown (timeout, connection lost, 5xx): the order may or may
 * not exist on the exchange. Never resend; resolve it by looking it up by client order id.
 */
export class OrderOutcomeUnknownError extends TemporaryError {
  override name = "OrderOutcomeUnknownError";
}

/** The exchange says it is under maintenance: pause new entries, keep serving. */
export class ExchangeMaintenanceError extends MaintenanceError {
  override name = "ExchangeMaintenanceError";
}

/**
 * A create refused with an error the adapter cannot classify (an exchange code it does not
 * know): most likely nothing was placed, but it cannot be ruled out, so the order is looked
 * up again for a while.
 */
export class UnclassifiedRejectionError extends RejectedError {
  override name = "UnclassifiedRejectionError";
}
