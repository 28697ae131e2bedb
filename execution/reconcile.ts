/**
 * Reconciliation: orders whose state the database cannot know alone (NEW after a crash,
 * UNKNOWN after a timeout, OPEN and PARTIALLY_FILLED while they rest) are settled from
 * exchange evidence: the order looked up by client id, the open orders, and the trades. A
 * failed lookup changes nothing; only several "not found" answers over a minute or more let
 * an order be given up as never placed. Nothing is ever resent from here: an order given up
 * hands its alert back (RECEIVED, with a note) to be planned again like a new one, under a new
 * client order id and the entry freshness rule, in the same transaction that closes the order,
 * so there is never a second active order for a signal.
 */
import type { Clock } from "../core/clock.ts";
import { errorMessage, nextStep } from "../core/errors.ts";
import { pauseOf } from "./outcome.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import type { Db, Sql } from "../db/mod.ts";
import { isActiveOrderStatus } from "../trading/statuses.ts";
import type { Exchange, ExchangeOrder, Fill } from "../exchange/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { applyExchangeOrder, ORDER_COLUMNS, type OrderRow, rejectOrder } from "./order_updates.ts";
import { accountTag } from "./accounts.ts";
import { exitRequester } from "./exit_fills.ts";
import { requestCancel } from "./cancels.ts";

export interface ReconcileTuning {
  minAgeMs: number;
  notFoundMisses: number;
  notFoundMinAgeMs: number;
  unknownWarnMs: number;
  unknownCriticalMs: number;
  givenUpRecheckMs: number;
  replansMax: number;
}

const tagOf = (o: OrderRow) => accountTag({ id: o.account_id, name: o.account_name });

export const emptyReconcileSummary = (): ReconcileSummary => ({
  checked: 0,
  settled: 0,
  givenUp: 0,
  failedLookups: 0,
  failedApplies: 0,
  accountsWaiting: 0,
});

/** How the reason of an order given up as never placed begins (counted per alert). */
export const NEVER_PLACED = "Not found on the exchange after";

export interface ReconcileSummary {
  checked: number;
  settled: number;
  givenUp: number;
  failedLookups: number;
  /** Orders whose exchange view could not be recorded (set aside with a CRITICAL). */
  failedApplies: number;
  /** Accounts not reconciled this pass: their exchange failed or asked to wait. */
  accountsWaiting: number;
}

// Longer than ~80 lines: one closure over the tuning and the in-flight set; each settling step is a named inner function.
export function createReconciler(deps: {
  db: Db;
  exchange: Exchange;
  clock: Clock;
  log: Log;
  /** The ledger book ('paper' or 'main') of the account's legs. */
  account: string;
  /** Whose orders these are (migration 0016); the default account when unset. */
  accountId?: number;
  inFlight: Set<string>;
  tuning?: Partial<ReconcileTuning>;
}) {
  const { db, exchange, clock, log, account, inFlight } = deps;
  const accountId = deps.accountId ?? 1;
  const t: ReconcileTuning = {
    minAgeMs: deps.tuning?.minAgeMs ?? limits.reconcileMinAgeMs,
    notFoundMisses: deps.tuning?.notFoundMisses ?? limits.reconcileNotFoundMisses,
    notFoundMinAgeMs: deps.tuning?.notFoundMinAgeMs ?? limits.reconcileNotFoundMinAgeMs,
    unknownWarnMs: deps.tuning?.unknownWarnMs ?? limits.unknownWarnMs,
    unknownCriticalMs: deps.tuning?.unknownCriticalMs ?? limits.unknownCriticalMs,
    givenUpRecheckMs: deps.tuning?.givenUpRecheckMs ?? limits.reconcileGivenUpRecheckMs,
    replansMax: deps.tuning?.replansMax ?? limits.reconcileReplansMax,
  };

  /** The exchange's view of one order: by client id, then among the open orders. */
  async function lookup(order: OrderRow): Promise<ExchangeOrder | null> {
    const found = await exchange.fetchOrderByClientId(order.client_order_id, order.symbol);
    if (found) return found;
    const open = await exchange.fetchOpenOrders(order.symbol);
    return open.find((o) => o.clientOrderId === order.client_order_id) ?? null;
  }

  async function fillsOf(order: OrderRow, found: ExchangeOrder): Promise<Fill[]> {
    if (found.fills && found.fills.length > 0) return found.fills;
    if (!(Number(found.filled) > 0)) return [];
    // By the order's own id: a page of the account's trades since the order was created would
    // miss its fills once more than a page of other trades happened meanwhile.
    // (An exchange that gives no order id: its trades are told apart by the client order id.)
    if (found.id === "") {
      const trades = await exchange.fetchMyTrades(order.symbol, order.created_at.getTime());
      return trades.filter((f) => f.clientOrderId === order.client_order_id);
    }
    const trades = await exchange.fetchMyTrades(order.symbol, undefined, { orderId: found.id });
    return trades.filter((f) => f.orderId === found.id);
  }

  async function warnIfStuck(order: OrderRow, ageMs: number) {
    if (order.status !== "UNKNOWN") return;
    const level = ageMs >= t.unknownCriticalMs
      ? "CRITICAL"
      : ageMs >= t.unknownWarnMs
      ? "WARN"
      : undefined;
    if (!level) return;
    await enqueueNotification(db, {
      severity: level,
      kind: NotificationKind.orderUnknown,
      text:
        `${
          tagOf(order)
        }Order ${order.client_order_id} (${order.side} ${order.qty} ${order.symbol}) has had ` +
        `an unknown outcome for ${Math.round(ageMs / 60_000)} min; the exchange cannot be asked ` +
        `right now. Check it on the exchange; it will not be resent`,
      dedupeKey: `order:${order.client_order_id}:unknown:${level}`,
      accountId: order.account_id,
    });
  }

  async function reconcileOne(order: OrderRow, summary: ReconcileSummary) {
    const ageMs = clock.now().getTime() - order.created_at.getTime();
    let found: ExchangeOrder | null;
    let fills: Fill[] = [];
    try {
      found = await lookup(order);
      if (found) fills = await fillsOf(order, found);
    } catch (error) {
      // One failed lookup proves nothing: leave the order as it is and try again later.
      summary.failedLookups++;
      log.warn("Reconcile lookup of {cid} failed: {error}", {
        cid: order.client_order_id,
        error: errorMessage(error),
      });
      await warnIfStuck(order, ageMs);
      // To the back of the queue: orders whose lookup keeps failing (a delisted symbol) must not
      // fill every pass and starve the others.
      await db.query("update orders set checked_at = now() where id = $1", [order.id])
        .catch(() => {});
      // Asked to slow down (or down for maintenance): stop this pass, the loop backs off.
      if (pauseOf(nextStep(error)) !== undefined) throw error;
      return;
    }
    if (order.status === "REJECTED") {
      await recheckGivenUp(order, found, fills);
      return;
    }
    if (found) {
      const status = await db.transaction((tx) =>
        applyExchangeOrder(tx, order, found!, fills, account)
      );
      if (status !== order.status) {
        summary.settled++;
        log.info("Order {cid} reconciled: {from} → {to}", {
          cid: order.client_order_id,
          from: order.status,
          to: status,
        });
      }
      return;
    }
    if (order.status === "OPEN" || order.status === "PARTIALLY_FILLED") {
      // The exchange accepted it once; a resting order is never given up on absence alone.
      await warnIfStuck(order, ageMs);
      return;
    }
    const misses = order.reconcile_misses + 1;
    if (misses >= t.notFoundMisses && ageMs >= t.notFoundMinAgeMs) {
      const reason = `${NEVER_PLACED} ${misses} lookups over ${
        Math.round(ageMs / 1000)
      } s: it was never placed`;
      const replanned = await db.transaction((tx) => giveUpNeverPlaced(tx, order, reason));
      summary.givenUp++;
      log.warn("Order {cid} was never placed; {what}", {
        cid: order.client_order_id,
        what: replanned ? "its alert is planned again" : "its alert is not planned again",
      });
      return;
    }
    await db.query(
      "update orders set reconcile_misses = $2, checked_at = now() where id = $1",
      [order.id, misses],
    );
    await warnIfStuck(order, ageMs);
  }

  /**
   * Closes an order proven never placed and hands its alert back to be planned again (true),
   * unless the alert has had reconcileReplansMax such orders already: then it is set aside
   * (FAILED) as before; or unless its cancel was asked (an exit's, an operator's): then its
   * alert is REJECTED, so an entry an exit cancelled is not bought after the exit. Either way
   * the operator hears about it once, at WARN.
   */
  async function giveUpNeverPlaced(tx: Sql, order: OrderRow, reason: string): Promise<boolean> {
    const [earlier] = order.alert_id === null ? [{ n: 0 }] : await tx.query<{ n: number }>(
      `select count(*)::int as n from orders
        where alert_id = $1 and id <> $2 and status = 'REJECTED' and filled_qty = 0
          and left(reject_reason, $3) = $4`,
      [order.alert_id, order.id, NEVER_PLACED.length, NEVER_PLACED],
    );
    if (order.alert_id === null || Number(earlier.n) + 1 >= t.replansMax) {
      await rejectOrder(tx, order, reason, "FAILED");
      return false;
    }
    // Only from the state the decision was made on: anything that settled the order since (an
    // answer recorded late) wins, and the alert is not planned again.
    const closed = await tx.query(
      `update orders set status = 'REJECTED', reject_reason = $2, updated_at = now(),
              checked_at = now()
        where id = $1 and status in ('NEW', 'UNKNOWN') and filled_qty = 0 returning id`,
      [order.id, reason],
    );
    if (closed.length === 0) return false;
    // Its cancel was asked (an exit of the whole position, an operator): the order must not
    // exist, so it is not placed afresh either; its alert ends REJECTED.
    const [asked] = await tx.query<{ by: string }>(
      "select requested_by as by from cancel_requests where order_id = $1 order by id limit 1",
      [order.id],
    );
    if (asked) {
      await rejectOrder(
        tx,
        order,
        `${reason}; its cancel was asked (by ${
          asked.by.replace(/^exit:/, "exit ")
        }), so it is not planned again`,
      );
      return false;
    }
    const note = `Order ${order.client_order_id} was never placed (${reason}); the signal is ` +
      `planned again under a new client order id`;
    const handed = await tx.query(
      `update inbound_alerts set status = 'RECEIVED', error = $2
        where id = $1 and status = 'PROCESSING' returning id`,
      [order.alert_id, note],
    );
    await enqueueNotification(tx, {
      severity: "WARN",
      kind: NotificationKind.orderNeverPlaced,
      text: `${tagOf(order)}${note}${
        handed.length === 0 ? " (the alert was already settled)" : ""
      }`,
      dedupeKey: `order:${order.client_order_id}:never-placed`,
      accountId: order.account_id,
    });
    return handed.length > 0;
  }

  /**
   * An order given up as never placed is looked at again for a day: if the exchange shows it
   * after all, it is recorded (a position nobody knew about is the worst outcome) and the
   * operator hears about it once, at CRITICAL, or at WARN when nothing of it filled and it is
   * being cancelled. One that must not exist (unwantedBy: its cancel was asked, or an exit of
   * the whole position came after it) is cancelled while it rests: its cancel is asked again
   * under the same name, so an exit's is asked until the order ended (cancels.ts); what it
   * filled is held as a position with its stop, which no exit sold (none knew of the fill).
   * One whose signal was planned again as another order that rests or filled is cancelled at
   * once when it rests, then recorded as the exchange has it.
   */
  async function recheckGivenUp(order: OrderRow, found: ExchangeOrder | null, fills: Fill[]) {
    if (!found) {
      await db.query("update orders set checked_at = now() where id = $1", [order.id]);
      return;
    }
    // Its signal was planned again as another order, which filled or rests: this one is the
    // signal's second order. Resting, it is cancelled first (it could not even be recorded
    // resting beside an active one of the same key), then recorded as the exchange then has it.
    const [replaced] = await db.query<{ cid: string }>(
      `select client_order_id as cid from orders
        where account_id = $1 and idempotency_key = $2 and id > $3
          and (filled_qty > 0 or status in ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED'))
        order by id desc limit 1`,
      [order.account_id, order.idempotency_key, order.id],
    );
    if (replaced && found.status === "open") {
      try {
        await exchange.cancelOrder(order.client_order_id, order.symbol);
      } catch (error) {
        // Most often it ended meanwhile: the lookup below says how.
        log.warn("Cancel of {cid}, found late beside {other}, failed: {error}", {
          cid: order.client_order_id,
          other: replaced.cid,
          error: errorMessage(error),
        });
      }
      const after = await lookup(order);
      if (after) [found, fills] = [after, await fillsOf(order, after)];
    }
    const ended = found;
    await db.transaction(async (tx) => {
      const status = await applyExchangeOrder(tx, order, ended, fills, account);
      const [now] = await tx.query<{ filled: string; avg: string | null; stop: string | null }>(
        `select filled_qty::text as filled, avg_fill_price::text as avg,
                coalesce(stop_price::text, decision ->> 'sl') as stop
           from orders where id = $1`,
        [order.id],
      );
      const resting = isActiveOrderStatus(status);
      const filled = Number(now.filled) > 0;
      if (replaced) {
        await enqueueNotification(tx, {
          severity: filled || resting ? "CRITICAL" : "WARN",
          kind: NotificationKind.orderFoundLate,
          text: replacedText(order, status, now, replaced.cid),
          dedupeKey: `order:${order.client_order_id}:found-late`,
          accountId: order.account_id,
        });
        return;
      }
      const unwanted = await unwantedBy(tx, order);
      if (unwanted && resting) {
        await requestCancel(tx, order.id, unwanted.by);
        // First in the reconciler's queue: its cancel is sent and recorded on the next pass.
        await tx.query("update orders set checked_at = null where id = $1", [order.id]);
      }
      if (unwanted && filled) {
        // The cancel closed when the order was given up did not happen: it filled first.
        await tx.query(
          `update cancel_requests set status = 'FAILED', error = $2, updated_at = now()
            where order_id = $1 and status = 'DONE'`,
          [
            order.id,
            `the order filled ${now.filled} of ${order.qty} first (${status}), found on the ` +
            "exchange after it was given up as never placed",
          ],
        );
      }
      await enqueueNotification(tx, {
        severity: unwanted && resting && !filled ? "WARN" : "CRITICAL",
        kind: NotificationKind.orderFoundLate,
        text: foundLateText(order, status, now, unwanted?.why),
        dedupeKey: `order:${order.client_order_id}:found-late`,
        accountId: order.account_id,
      });
    });
    log.error("Order {cid}, given up as never placed, was found on the exchange", {
      cid: order.client_order_id,
    });
  }

  /**
   * The exchange's view of an order could not be recorded (a fill the schema refuses, say): the
   * order goes to the back of the queue, the operator hears once, and the pass goes on, so one
   * broken order never keeps the others from being settled. If even this bookkeeping fails,
   * the database itself is the problem and the original error stops the pass.
   */
  async function setAside(order: OrderRow, error: unknown) {
    try {
      await db.transaction(async (tx) => {
        await tx.query("update orders set checked_at = now() where id = $1", [order.id]);
        await enqueueNotification(tx, {
          severity: "CRITICAL",
          kind: NotificationKind.orderApplyFailed,
          text:
            `${
              tagOf(order)
            }Order ${order.client_order_id} (${order.side} ${order.qty} ${order.symbol}) ` +
            `is on the exchange but its state cannot be recorded: ${errorMessage(error)}. ` +
            `Check it on the exchange; it is retried on every pass`,
          dedupeKey: `order:${order.client_order_id}:apply-failed`,
          accountId: order.account_id,
        });
      });
    } catch {
      throw error;
    }
    log.error("Order {cid} could not be reconciled: {error}", {
      cid: order.client_order_id,
      error: errorMessage(error),
    });
  }

  /** One pass over the orders that need the exchange's word. */
  async function reconcileOnce(): Promise<ReconcileSummary> {
    const now = clock.now().getTime();
    const orders = await db.query<OrderRow>(
      `select ${ORDER_COLUMNS} from orders
        where account_id = $6 and exchange_id = $1
          and (status in ('OPEN', 'PARTIALLY_FILLED')
               or (status in ('NEW', 'UNKNOWN') and created_at <= $2)
               or (status = 'REJECTED' and reconcile_misses > 0
                   and created_at >= $4 and checked_at <= $5))
        order by checked_at nulls first, id limit $3`,
      [
        exchange.id,
        new Date(now - t.minAgeMs),
        limits.reconcileBatchSize,
        new Date(now - limits.reconcileGivenUpWindowMs),
        new Date(now - t.givenUpRecheckMs),
        accountId,
      ],
    );
    const summary = emptyReconcileSummary();
    for (const order of orders) {
      if (inFlight.has(order.client_order_id)) continue;
      summary.checked++;
      try {
        await reconcileOne(order, summary);
      } catch (error) {
        // Slow down / maintenance, or the database is gone: the pass stops, the loop backs off.
        const step = nextStep(error);
        if (pauseOf(step) !== undefined || step.step === "database_down") throw error;
        summary.failedApplies++;
        await setAside(order, error);
      }
    }
    return summary;
  }

  return { reconcileOnce };
}

/**
 * Why an order found after it was given up must not exist, and who asks for its cancel: its
 * cancel was asked (an exit's, an operator's, a stop's replacement), or, for a buy, an exit of
 * the symbol's whole position ended after the order was created, which would have asked for it
 * (process.ts) had the order been known to exist.
 */
async function unwantedBy(
  tx: Sql,
  order: OrderRow,
): Promise<{ by: string; why: string } | undefined> {
  const [asked] = await tx.query<{ by: string }>(
    `select requested_by as by from cancel_requests where order_id = $1
      order by (requested_by like 'exit:%') desc, id desc limit 1`,
    [order.id],
  );
  if (asked) {
    return {
      by: asked.by,
      why: asked.by.startsWith("exit:")
        ? `${asked.by.replace(/^exit:/, "exit ")} had asked for its cancel`
        : `its cancel was asked (by ${asked.by})`,
    };
  }
  if (order.side !== "buy") return undefined;
  // Alerts carry no index for this; it runs only for an order found late, which is rare.
  const [exit] = await tx.query<{ id: number }>(
    `select id from inbound_alerts
      where account_id = $1 and status in ('EXECUTED', 'REJECTED') and processed_at >= $3
        and decision ->> 'action' = 'sell' and decision ->> 'symbol' = $2
        and decision ->> 'qty' is null
      order by processed_at limit 1`,
    [order.account_id, order.symbol, order.created_at],
  );
  if (!exit) return undefined;
  return {
    by: exitRequester(exit.id),
    why: `exit alert ${exit.id} of the whole position came after it and would have cancelled it`,
  };
}

const num = (v: string | null) => Number(Number(v ?? 0).toFixed(8)).toString();

/** The message about an order found late whose signal was planned again as order `other`. */
function replacedText(
  order: OrderRow,
  status: string,
  now: { filled: string; avg: string | null; stop: string | null },
  other: string,
): string {
  const head =
    `${tagOf(order)}Order ${order.client_order_id} (${order.side} ${
      num(order.qty)
    } ${order.symbol}) was given up as never placed, and its signal was planned again as order ` +
    `${other}, but it is on the exchange`;
  if (isActiveOrderStatus(status)) {
    return `${head} (${status}) and could not be cancelled: cancel it on the exchange`;
  }
  if (!(Number(now.filled) > 0)) return `${head}: it is cancelled now (${status})`;
  return `${head} and filled ${num(now.filled)} at ${num(now.avg)} (${status}) before it ` +
    `could be cancelled; it is now recorded: the position holds the signal's fills twice, ` +
    `guarded by its ${now.stop ? `stop ${num(now.stop)}` : "stop"}; sell what is not wanted`;
}

/** The one message about an order found after it was given up as never placed. */
function foundLateText(
  order: OrderRow,
  status: string,
  now: { filled: string; avg: string | null; stop: string | null },
  why: string | undefined,
): string {
  const what = `${order.side} ${num(order.qty)} ${order.symbol}`;
  const head = `${tagOf(order)}Order ${order.client_order_id} (${what}) was given up as never ` +
    "placed but ";
  const filled = Number(now.filled) > 0;
  if (!why || (!filled && !isActiveOrderStatus(status))) {
    return `${head}is on the exchange (${status}); it is now recorded. Check the position`;
  }
  const bought = `${num(now.filled)}${
    Number(now.filled) < Number(order.qty) ? ` of ${num(order.qty)}` : ""
  } at ${num(now.avg)}`;
  const held = `The ${num(now.filled)} bought is held as an open position, guarded by its ${
    now.stop ? `stop ${num(now.stop)}` : "stop"
  }; sell it if it is not wanted`;
  if (!isActiveOrderStatus(status)) {
    return `${head}filled ${bought} on the exchange (${status}); it is now recorded. ${
      why[0].toUpperCase() + why.slice(1)
    }, and nothing sold what it bought. ${held}`;
  }
  if (!filled) {
    return `${head}rests on the exchange (${status}): ${why}, so it is cancelled now`;
  }
  return `${head}rests on the exchange (${status}) with ${bought} filled: ${why}, so the rest ` +
    `is cancelled now. ${held}`;
}
