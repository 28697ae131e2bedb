/**
 * A trading decision: what every signal source (webhook, CSV, the strategy agent) produces and
 * what the Execution agent consumes. Stored as `inbound_alerts.decision` (jsonb) with the
 * alert row in status RECEIVED; execution picks it up from there. Prices and quantities are
 * decimal strings, never floats.
 */
export interface TradingDecision {
  /** Unified symbol, e.g. "BTC/USDT". */
  symbol: string;
  /** buy opens or adds to a long position; sell reduces or closes it (spot only). */
  action: "buy" | "sell";
  /** Base quantity; absent → sized from risk (equity × risk% / |entry − stop|). */
  qty?: string;
  /** Limit price; absent → market order. */
  price?: string;
  /** The invalidation (stop) price; an entry without one is not traded. */
  sl?: string;
  /** Take-profit price. */
  tp?: string;
  /**
   * An entry's trailing stop distance (%, 0–100, decimal string): the stop follows the highest
   * price since entry this far below it. Wins over the strategy's `trail_pct`.
   */
  trailPct?: string;
  /** 0–1; below the strategy's floor the decision is dropped. */
  confidence?: number;
  /** Name of a row in `strategies`. */
  strategy: string;
  /** Unique per intended trade: repeated signals with the same key never trade twice. */
  idempotencyKey: string;
  /** ISO-8601 time of the signal at its source. */
  ts?: string;
}
