/**
 * What an operator can do, whichever way they come in (the CLI, Telegram): pause and resume
 * new entries, exit a position, cancel an order. Every action is recorded in control_actions
 * (who, what, when, result) and announced at INFO to the operator's chats, and to the chats tied
 * to the account when it acts on one account alone. State lives in the
 * database, so it survives restarts and `serve` carries it out (exits through execution,
 * cancels on the order's own account).
 */
import type { Clock } from "../core/clock.ts";
import { systemClock } from "../core/clock.ts";
import type { Db, Sql } from "../db/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import {
  type Account,
  DEFAULT_ACCOUNT_ID,
  liftPauses,
  listAccounts,
  pauseAccount,
  requestCancel,
  requireAccount,
} from "../execution/mod.ts";
import { handOverExit, type WatchedPosition } from "../risk/mod.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";
import { type Actor, operatorLabel as label, withoutOperator } from "./operator_label.ts";

export type { Actor };

export interface ActionResult {
  ok: boolean;
  /** A plain-text answer for the person who asked. */
  text: string;
}

/**
 * Records the action and, when it did something, announces it to the operator's chats and,
 * for an action on one account (`accountId`), to that account's chats too. Those hear it from
 * "the operator": the operator's Telegram user id (or CLI user name) is for the operator's
 * chats only.
 */
async function recorded(
  sql: Sql,
  actor: Actor,
  action: string,
  args: Record<string, unknown>,
  result: ActionResult,
  accountId?: number,
): Promise<ActionResult> {
  const [row] = await sql.query<{ id: number }>(
    `insert into control_actions (via, actor, action, args, ok, result)
     values ($1, $2, $3, $4, $5, $6) returning id`,
    [actor.via, actor.who, action, JSON.stringify(args), result.ok, result.text],
  );
  if (result.ok) {
    const told = {
      severity: "INFO" as const,
      kind: NotificationKind.controlAction,
      dedupeKey: `control:${row.id}`,
    };
    await enqueueNotification(sql, { ...told, text: `${label(actor)}: ${result.text}` });
    // The operator's chats have this key already (the dedupe key is per chat): the second
    // form reaches the account's chats alone.
    if (accountId !== undefined) {
      await enqueueNotification(sql, {
        ...told,
        text: `The operator: ${withoutOperator(result.text)}`,
        accountId,
      });
    }
  }
  return result;
}

/** The accounts an action applies to: the named one, or every account. */
async function accountsFor(sql: Sql, name?: string): Promise<Account[]> {
  return name ? [await requireAccount(sql, name)] : await listAccounts(sql);
}

/** No new entries (exits and protection keep working) until `resume`. */
export function pauseTrading(
  db: Db,
  actor: Actor,
  o: { account?: string; reason?: string },
  clock: Clock = systemClock,
): Promise<ActionResult> {
  const reason = o.reason?.trim() || `paused by ${label(actor)}`;
  return db.transaction(async (tx) => {
    const accounts = await accountsFor(tx, o.account);
    const started: string[] = [];
    for (const a of accounts) {
      const ok = await pauseAccount(tx, {
        accountId: a.id,
        kind: "operator",
        reason,
        byWhom: label(actor),
      }, clock.now());
      if (ok !== undefined) started.push(a.name);
    }
    const what = o.account ? `account ${o.account}` : "all accounts";
    const result = started.length === 0
      ? { ok: false, text: `New entries of ${what} were already paused` }
      : {
        ok: true,
        text: `New entries of ${what} paused (${reason}); exits and stops keep working. ` +
          `Resume with /resume or pg-solo-lite resume`,
      };
    const done = await recorded(
      tx,
      actor,
      "pause",
      { account: o.account ?? null, reason },
      result,
      o.account ? accounts[0]?.id : undefined,
    );
    // "/pause alice" pauses every account with "alice" as the reason: safe, but perhaps not
    // what was meant. The answer says so (the record and the announcement do not).
    const named = !o.account && accounts.find((a) => a.name === o.reason?.trim());
    return named && done.ok
      ? {
        ...done,
        text: `${done.text}. ("${named.name}" was taken as the reason: to pause only that ` +
          `account, /pause account:${named.name} or pg-solo-lite pause --account ${named.name})`,
      }
      : done;
  });
}

/** Lifts every pause (the operator's and the protections') of one account or of all. */
export function resumeTrading(
  db: Db,
  actor: Actor,
  o: { account?: string },
  clock: Clock = systemClock,
): Promise<ActionResult> {
  return db.transaction(async (tx) => {
    const lifted: string[] = [];
    const accounts = await accountsFor(tx, o.account);
    for (const a of accounts) {
      const kinds = await liftPauses(tx, a.id, label(actor), clock.now());
      if (kinds.length > 0) lifted.push(`${a.name} (${kinds.join(", ")})`);
    }
    const what = o.account ? `account ${o.account}` : "any account";
    const result = lifted.length === 0
      ? { ok: false, text: `New entries of ${what} were not paused` }
      : { ok: true, text: `New entries resume: ${lifted.join(", ")}` };
    return await recorded(
      tx,
      actor,
      "resume",
      { account: o.account ?? null },
      result,
      o.account ? accounts[0]?.id : undefined,
    );
  });
}

export interface ExitTarget {
  positionId: number;
  openedAtMs: number;
  account: string;
  symbol: string;
  qty: string;
  /** One line saying what an exit would sell. */
  text: string;
}

/** The open positions `target` names: a position id, or a symbol (on every account). */
export async function exitTargets(db: Sql, target: string): Promise<ExitTarget[]> {
  const t = target.trim().toUpperCase();
  const byId = /^\d+$/.test(t);
  if (!byId && !/^[A-Z0-9]+\/[A-Z0-9]+$/.test(t)) return [];
  const rows = await db.query<{
    id: number;
    opened_at: Date;
    account: string;
    symbol: string;
    qty: string;
    avg: string | null;
  }>(
    `select p.id, p.opened_at, a.name as account, p.symbol, p.qty::text,
            p.avg_entry_price::text as avg
       from positions p join accounts a on a.id = p.account_id
      where p.status = 'OPEN' and p.qty > 0
        and (($1 and p.id = $2::int8) or (not $1 and p.symbol = $3))
      order by p.id`,
    [byId, byId ? t : "0", t],
  );
  return rows.map((r) => ({
    positionId: Number(r.id),
    openedAtMs: new Date(r.opened_at).getTime(),
    account: r.account,
    symbol: r.symbol,
    qty: r.qty,
    text: `position ${r.id}: sell ${r.qty} ${r.symbol} (entry ${
      r.avg ?? "?"
    }) on account ${r.account}`,
  }));
}

/**
 * Hands over one market sell of the whole position to execution, exactly once per opening of
 * the position: a second request while one is under way, for a position since closed or
 * reopened (`openedAtMs` no longer matches), does nothing and says why.
 */
export async function exitPosition(
  db: Db,
  actor: Actor,
  positionId: number,
  openedAtMs: number,
): Promise<ActionResult> {
  const args = { position_id: positionId, opened_at_ms: openedAtMs };
  const [p] = await db.query<WatchedPosition & { open: boolean; exiting: number | null }>(
    `select p.id, p.account_id::int, a.name as account_name, p.exchange_id, p.symbol,
            p.stop_price::text, p.take_profit_price::text, p.strategy, p.opened_at,
            (p.status = 'OPEN' and p.qty > 0) as open,
            (select r.alert_id from risk_actions r where r.position_id = p.id
               and r.status = 'PLANNED' and r.alert_id is not null
              order by r.id limit 1) as exiting
       from positions p join accounts a on a.id = p.account_id where p.id = $1`,
    [positionId],
  );
  const refuse = (text: string) => recorded(db, actor, "exit", args, { ok: false, text });
  if (!p || !p.open || new Date(p.opened_at).getTime() !== openedAtMs) {
    return await refuse(`Position ${positionId} is not open any more; nothing was sold`);
  }
  if (p.exiting !== null) {
    return await refuse(
      `Position ${positionId} is already being exited (alert ${p.exiting}); nothing more is sold`,
    );
  }
  const alertId = await handOverExit(db, p, { kind: "exit", triggerPrice: "" }, 0, label(actor));
  if (alertId === undefined) {
    return await refuse(`Position ${positionId} is already being exited; nothing more is sold`);
  }
  return await recorded(db, actor, "exit", { ...args, alert_id: alertId }, {
    ok: true,
    text: `Exit of position ${positionId} (${p.symbol}${
      p.account_id === DEFAULT_ACCOUNT_ID ? "" : ` on account ${p.account_name}`
    }) handed to execution as alert ${alertId}: the whole position is sold at market`,
  }, p.account_id);
}

/** Asks `serve` to cancel an active order on its account's exchange. */
export async function cancelOrder(db: Db, actor: Actor, orderId: number): Promise<ActionResult> {
  const args = { order_id: orderId };
  const [o] = await db.query<
    { client_order_id: string; symbol: string; active: boolean; account_id: number }
  >(
    `select client_order_id, symbol, status in ${ACTIVE_ORDER_STATUSES_SQL} as active,
            account_id::int
       from orders where id = $1`,
    [orderId],
  );
  if (!o || !o.active) {
    return await recorded(db, actor, "cancel", args, {
      ok: false,
      text: o ? `Order ${orderId} is not active; nothing to cancel` : `No order ${orderId}`,
    });
  }
  return await db.transaction(async (tx) => {
    const requested = await requestCancel(tx, orderId, label(actor));
    return await recorded(
      tx,
      actor,
      "cancel",
      args,
      !requested ? { ok: false, text: `A cancel of order ${orderId} is already waiting` } : {
        ok: true,
        text: `Cancel of order ${orderId} (${o.client_order_id}, ${o.symbol}) requested; ` +
          `serve sends it and the order is settled from the exchange's answer`,
      },
      o.account_id,
    );
  });
}
