/**
 * The statuses of an order and of an inbound alert, once for the TypeScript side. The SQL of
 * db/migrations keeps its own lists (check constraints, partial indexes, trigger bodies):
 * migrations are never edited, and a database function cannot import this file. A new status
 * therefore takes a migration and an edit here.
 */

export const ORDER_STATUSES = [
  "NEW",
  "UNKNOWN",
  "OPEN",
  "PARTIALLY_FILLED",
  "FILLED",
  "CANCELED",
  "REJECTED",
  "EXPIRED",
] as const;
export type OrderStatus = typeof ORDER_STATUSES[number];

/** An order that may still trade: it holds quantity on the book, or may (UNKNOWN). */
export const ACTIVE_ORDER_STATUSES = ["NEW", "UNKNOWN", "OPEN", "PARTIALLY_FILLED"] as const;
export type ActiveOrderStatus = typeof ACTIVE_ORDER_STATUSES[number];

export function isActiveOrderStatus(status: string): status is ActiveOrderStatus {
  return (ACTIVE_ORDER_STATUSES as readonly string[]).includes(status);
}

/** The active order statuses as an SQL list, `('NEW', …)`, for `status in ${…}` in a query. */
export const ACTIVE_ORDER_STATUSES_SQL = `(${
  ACTIVE_ORDER_STATUSES.map((s) => `'${s}'`).join(", ")
})`;

export const ALERT_STATUSES = [
  "RECEIVED",
  "PROCESSING",
  "EXECUTED",
  "REJECTED",
  "INVALID",
  "DUPLICATE",
  "FAILED",
] as const;
export type AlertStatus = typeof ALERT_STATUSES[number];

/** An alert still on its way to an order: waiting for execution or being executed. */
export const ACTIVE_ALERT_STATUSES = ["RECEIVED", "PROCESSING"] as const;

/**
 * What the active sells of position `p`'s symbol other than its stops still have to sell (a
 * resting take-profit limit for part of it): that part is held by them, and the stop protects
 * the rest, `p.qty` less this. An SQL expression over the alias `p` of `positions`.
 */
export const OTHER_SELLING_SQL = `coalesce((select sum(os.qty - os.filled_qty) from orders os
    where os.account_id = p.account_id and os.exchange_id = p.exchange_id
      and os.symbol = p.symbol and os.side = 'sell' and os.purpose <> 'stop_loss'
      and os.status in ${ACTIVE_ORDER_STATUSES_SQL}), 0)`;
