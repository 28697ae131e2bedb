/**
 * The writes of the Risk agent: handing one exit over to execution (an alert, its dedupe key
 * and a PLANNED risk action, with the notification, in one transaction) and settling the
 * PLANNED actions whose exit finished (the verdict is pure: rules.ts exitVerdict).
 */
import type { TradingDecision } from "../trading/decision.ts";
import { sha256Hex } from "../core/hash.ts";
import { limits } from "../core/limits.ts";
import type { Db, Sql } from "../db/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { exitVerdict, type RiskAction } from "./rules.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";
import { sliceFilled } from "./ladder_sql.ts";
import { dec } from "../trading/decimal.ts";

export interface WatchedPosition {
  id: number;
  /** Whose position it is: its exit is executed for that account alone. */
  account_id: number;
  account_name: string;
  exchange_id: string;
  symbol: string;
  stop_price: string | null;
  take_profit_price: string | null;
  strategy: string | null;
  opened_at: Date;
  /** The limit of the protective stop resting on the exchange, if any (the watch reads it). */
  protective_limit?: string | null;
  /** Whether the reconciler has looked at that stop since the watch started (or a minute passed). */
  protective_checked?: boolean | null;
  /** A resting stop's row from before a downtime, not looked at since the start (watch.ts). */
  from_before_downtime?: boolean | null;
  /** The take-profit ladder planned at the entry, and how many of its slices filled. */
  tp_ladder?: { price: string; qty: string }[] | null;
  tp_ladder_filled?: number;
}

/**
 * The key of one exit attempt of one position: a position reopened later gets new keys, and an
 * exit that did not close the position is followed by attempt 2, 3, ….
 */
export const exitKey = (kind: string, p: { id: number; opened_at: Date }, attempt = 1) =>
  `risk:${kind}:${p.id}:${new Date(p.opened_at).getTime()}${attempt > 1 ? `:${attempt}` : ""}`;

/**
 * Hands one exit over and returns its alert id; undefined when its key was used already (the
 * exit was planned before) or the attempts of an automatic exit are exhausted.
 * The dedupe key's primary key makes a repeat a no-op: the transaction is rolled back.
 */
export async function handOverExit(
  db: Db,
  p: WatchedPosition,
  action: RiskAction,
  last: number,
  /** Who asked for an operator's exit (kind "exit"). */
  requestedBy?: string,
): Promise<number | undefined> {
  const slice = action.slice;
  const [{ n: earlier, sold }] = await db.query<{ n: number; sold: string }>(
    // Software exits only: protective stops on the exchange have no alert and count apart.
    // A ladder's slices count apart too: each has its own attempts, and what an earlier attempt
    // of the slice sold before its order ended (a partial fill, then expired) is not sold again.
    `select count(*)::int as n,
            coalesce(sum((select sum(o.filled_qty) from orders o where o.alert_id = r.alert_id
                           and o.side = 'sell')), 0)::text as sold
       from risk_actions r
      where r.position_id = $1 and r.kind = $2 and r.alert_id is not null
        and (r.params ->> 'slice') is not distinct from $3`,
    [p.id, action.kind, slice ? String(slice.n) : null],
  );
  // The last failed attempt told the operator to act; nothing more is sent automatically. An
  // operator's exit is that act: asked again, it is handed over however many failed before.
  if (action.kind !== "exit" && earlier >= limits.riskExitAttemptsMax) return undefined;
  const sliceQty = slice?.qty === undefined ? undefined : dec.sub(slice.qty, sold);
  if (sliceQty !== undefined && dec.cmp(sliceQty, "0") <= 0) {
    // Earlier attempts sold all of it between them: the slice is filled.
    await db.transaction((tx) => sliceFilled(tx, p.id, slice!.n));
    return undefined;
  }
  const key = exitKey(slice ? `tp${slice.n}` : action.kind, p, earlier + 1);
  const decision: TradingDecision = {
    symbol: p.symbol,
    action: "sell",
    strategy: p.strategy ?? "risk",
    idempotencyKey: key,
    // A slice sells its own quantity (execution sells at most what is free); the last, all.
    ...(sliceQty !== undefined ? { qty: sliceQty } : {}),
  };
  const body = JSON.stringify(decision);
  const hash = sha256Hex(body);
  const params = action.kind === "exit" ? { requested_by: requestedBy ?? "operator" } : {
    trigger_price: action.triggerPrice,
    last_price: String(last),
    ...(slice ? { slice: slice.n, price: action.triggerPrice, qty: sliceQty ?? "rest" } : {}),
  };
  const stop = action.kind === "stop_loss";
  const already = Symbol("already planned");
  // The usual case after a failed exit: checked before writing, the unique key below
  // still decides when two passes race.
  const used = await db.query("select 1 from inbound_dedupe_keys where idempotency_key = $1", [
    key,
  ]);
  if (used.length > 0) return undefined;
  try {
    return await db.transaction(async (tx: Sql) => {
      const [alert] = await tx.query<{ id: number }>(
        `insert into inbound_alerts (source, idempotency_key, payload_hash, raw_body, payload,
                                     status, decision, account_id)
         values ('risk', $1, $2, $3, $4, 'RECEIVED', $5, $6) returning id`,
        [
          key,
          hash,
          body,
          JSON.stringify({ kind: action.kind, position_id: p.id, ...params }),
          body,
          p.account_id,
        ],
      );
      const claimed = await tx.query(
        `insert into inbound_dedupe_keys (idempotency_key, payload_hash, alert_id)
         values ($1, $2, $3) on conflict (idempotency_key) do nothing returning alert_id`,
        [key, hash, alert.id],
      );
      if (claimed.length === 0) throw already;
      await tx.query(
        `insert into risk_actions (position_id, kind, status, params, alert_id, account_id)
         values ($1, $2, 'PLANNED', $3, $4, $5)`,
        [p.id, action.kind, JSON.stringify(params), alert.id, p.account_id],
      );
      const tag = p.account_id === 1 ? "" : `[${p.account_name}] `;
      await enqueueNotification(tx, {
        severity: stop ? "WARN" : "INFO",
        kind: action.kind === "exit"
          ? NotificationKind.operatorExit
          : stop
          ? NotificationKind.stopLoss
          : NotificationKind.takeProfit,
        text: action.kind === "exit"
          ? `${tag}Exit of ${p.symbol} (position ${p.id}) asked by ${
            requestedBy ?? "the operator"
          }; selling the position (alert ${alert.id})`
          : `${tag}${stop ? "Stop-loss" : "Take-profit"}${
            slice ? ` ${slice.n} of ${slice.of}` : ""
          } hit on ${p.symbol} (position ${p.id}): ` +
            `last ${last} ${stop ? "≤ stop" : "≥ target"} ${action.triggerPrice}; ` +
            `selling ${
              sliceQty ?? (slice ? "the rest of the position" : "the position")
            } (alert ${alert.id})`,
        dedupeKey: key,
        accountId: p.account_id,
      });
      return alert.id;
    });
  } catch (error) {
    if (error === already) return undefined;
    throw error;
  }
}

/**
 * PLANNED actions whose exit has finished are settled. DONE only when the position is closed
 * (a ladder's slice before its last: when its sell filled; the slice then counts as filled);
 * an exit that was refused, or whose order ended without closing the position (cancelled,
 * expired, partly filled, only part of it free to sell), is FAILED with a WARN, and the level
 * is armed again: the next pass hands over a new exit (a new key), up to
 * `limits.riskExitAttemptsMax` per position and kind, after which the operator must act.
 */
export async function settleExits(db: Db): Promise<number> {
  return await db.transaction(async (tx) => {
    const rows = await tx.query<{
      id: number;
      kind: string;
      position_id: number;
      alert_status: string;
      alert_error: string | null;
      alert_id: number;
      order_id: number | null;
      order_status: string | null;
      position_open: boolean;
      position_qty: string;
      attempts: number;
      account_id: number;
      slice: number | null;
      slices: number | null;
    }>(
      `select r.id, r.account_id::int, r.kind, r.position_id, a.status as alert_status, a.error as alert_error,
              a.id as alert_id, o.id as order_id, o.status as order_status,
              (p.status = 'OPEN' and p.qty > 0) as position_open, p.qty::text as position_qty,
              (select count(*)::int from risk_actions r2
                where r2.position_id = r.position_id and r2.kind = r.kind
                  and r2.alert_id is not null
                  and (r2.params ->> 'slice') is not distinct from (r.params ->> 'slice'))
                as attempts,
              (r.params ->> 'slice')::int as slice, jsonb_array_length(p.tp_ladder) as slices
         from risk_actions r
         join inbound_alerts a on a.id = r.alert_id
         join positions p on p.id = r.position_id
         left join lateral (select o.id, o.status from orders o where o.alert_id = a.id
                             order by o.id desc limit 1) o on true
        where r.status = 'PLANNED'
          and a.status in ('EXECUTED', 'REJECTED', 'FAILED', 'DUPLICATE', 'INVALID')
          and (a.status <> 'EXECUTED' or o.status is null
               or o.status not in ${ACTIVE_ORDER_STATUSES_SQL})
        order by r.id
        for update of r skip locked`,
      [],
    );
    for (const r of rows) {
      const verdict = exitVerdict({
        kind: r.kind,
        positionId: r.position_id,
        alertId: r.alert_id,
        alertStatus: r.alert_status,
        alertError: r.alert_error,
        orderStatus: r.order_status,
        positionOpen: r.position_open,
        positionQty: r.position_qty,
        attempts: r.attempts,
        partial: r.slice !== null && r.slice < (r.slices ?? 0),
      }, limits.riskExitAttemptsMax);
      const error = verdict.status === "DONE" ? null : verdict.error;
      await tx.query(
        `update risk_actions set status = $2, error = $3, order_id = $4, updated_at = now()
          where id = $1`,
        [r.id, verdict.status, error, r.order_id],
      );
      if (verdict.status === "DONE") {
        if (r.slice !== null) await sliceFilled(tx, r.position_id, r.slice);
        continue;
      }
      await enqueueNotification(tx, {
        severity: verdict.severity,
        kind: NotificationKind.riskExitFailed,
        text: verdict.text,
        dedupeKey: `risk-action:${r.id}:failed`,
        accountId: r.account_id,
      });
    }
    return rows.length;
  });
}
