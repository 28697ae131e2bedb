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

export async function fanOut(
  db: Db,
  alertId: number,
  decision: { strategy: string; action: string; symbol: string } | undefined,
) {
  // A decision that does not parse is refused by the account's execution, with its reason.
  const strategy = decision?.strategy;
  const targets = decision === undefined
    ? [{ id: DEFAULT_ACCOUNT_ID, name: "default" }]
    : await targetsOf(
      db,
      decision.strategy,
      decision.action === "sell" ? decision.symbol : undefined,
    );
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
