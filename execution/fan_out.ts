/**
 * Routing an alert to the accounts that trade its strategy (strategy_accounts; the default
 * account when there is none). One account: the alert is that account's. Several: one child
 * alert per account (parent_id, account_id) is written and the parent marked EXECUTED in one
 * transaction, so a crash leaves either the parent to route again or every child, never some;
 * a unique index makes a second fan-out of the same parent impossible.
 */
import type { Db } from "../db/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { alerts } from "../signals/mod.ts";
import { DEFAULT_ACCOUNT_ID, targetsOf } from "./accounts.ts";

export type Routed =
  | { accountId: number }
  | { children: number[] }
  | { refused: string };

type Decision = { strategy: string; action: string; symbol: string };

/** The accounts of a decision's strategy, read once per batch for each strategy and exit. */
function targetsFor(db: Db, decision: Decision | undefined, cache: Map<string, Promise<Target[]>>) {
  // A decision that does not parse is refused by the account's execution, with its reason.
  if (decision === undefined) return Promise.resolve([{ id: DEFAULT_ACCOUNT_ID, name: "default" }]);
  const exit = decision.action === "sell" ? decision.symbol : undefined;
  const key = `${decision.strategy}\n${exit ?? ""}`;
  let p = cache.get(key);
  if (!p) cache.set(key, p = targetsOf(db, decision.strategy, exit));
  return p;
}

type Target = { id: number; name: string };

/**
 * Routes the alerts of a batch that have no account yet: those with one target get it in one
 * statement for the whole batch; the others are fanned out (or refused) one by one.
 */
export async function routeBatch(
  db: Db,
  batch: Array<{ id: number; decision: Decision | undefined }>,
): Promise<Map<number, Routed>> {
  const cache = new Map<string, Promise<Target[]>>();
  const out = new Map<number, Routed>();
  const single: Array<[number, number]> = [];
  for (const a of batch) {
    const targets = await targetsFor(db, a.decision, cache);
    if (targets.length === 1) single.push([a.id, targets[0].id]);
  }
  if (single.length > 0) {
    await db.query(
      `update inbound_alerts a set account_id = v.account_id
         from unnest($1::int8[], $2::int8[]) as v(id, account_id) where a.id = v.id`,
      [single.map(([id]) => id), single.map(([, account]) => account)],
    );
    for (const [id, accountId] of single) out.set(id, { accountId });
  }
  for (const a of batch) {
    if (!out.has(a.id)) out.set(a.id, await fanOut(db, a.id, a.decision, cache));
  }
  return out;
}

export async function fanOut(
  db: Db,
  alertId: number,
  decision: Decision | undefined,
  cache = new Map<string, Promise<Target[]>>(),
): Promise<Routed> {
  const strategy = decision?.strategy;
  const targets = await targetsFor(db, decision, cache);
  if (targets.length === 0) {
    const reason = `no enabled account trades strategy "${strategy}"; subscribe one with ` +
      `strategies add ${strategy} --accounts NAME`;
    await db.transaction(async (tx) => {
      await alerts.rejectAlert(tx, alertId, reason);
      await enqueueNotification(tx, {
        severity: "WARN",
        kind: NotificationKind.decisionRejected,
        text: `Signal (alert ${alertId}) not traded: ${reason}`,
        dedupeKey: `alert:${alertId}:rejected`,
      });
    });
    return { refused: reason } satisfies Routed;
  }
  if (targets.length === 1) {
    await db.query("update inbound_alerts set account_id = $2 where id = $1", [
      alertId,
      targets[0].id,
    ]);
    return { accountId: targets[0].id } satisfies Routed;
  }
  const ids = targets.map((t) => t.id);
  const children = await db.transaction(async (tx) => {
    const rows = await tx.query<{ id: number }>(
      `insert into inbound_alerts (source, idempotency_key, payload_hash, raw_body, payload,
                                   remote_addr, status, decision, line_no, received_at,
                                   account_id, parent_id)
       select a.source, a.idempotency_key, a.payload_hash, a.raw_body, a.payload, a.remote_addr,
              'RECEIVED', a.decision, a.line_no, a.received_at, t.account_id, a.id
         from inbound_alerts a, unnest($2::int8[]) as t(account_id)
        where a.id = $1
       on conflict (parent_id, account_id) where parent_id is not null do nothing
       returning id`,
      [alertId, ids],
    );
    await alerts.finishAlert(tx, alertId, "EXECUTED", null);
    return rows.map((r) => Number(r.id));
  });
  return { children } satisfies Routed;
}
