/**
 * A buy whose cancel an exit asked for (process.ts) may fill before the cancel gets through.
 * Whether that exit sold the fill is known only once the exit sold or ended: an exit that is
 * waiting, or is being planned by a pass, sells what is held when it reads the position, that
 * fill included if it was recorded by then. So the exit records, with its sell, what the sell
 * counted of each such buy (the buy's filled quantity as the statement that read the position
 * saw it, store.ts); the operator hears `filled_after_exit` only of a fill beyond that, or of
 * any fill of an exit that ended without a sell.
 *
 * Either side may come last: the fill's record (order_updates.ts) or the exit's sell or refusal.
 * The buy's order row serialises them: the fill's transaction updates it, and the exit's takes
 * a share lock on it before it reads the fill, so whichever commits second sees the other and
 * tells (once: the message's dedupe key is the buy's).
 */
import type { Db, Sql } from "../db/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { accountTag } from "./accounts.ts";

/** Who an exit's cancel request names (process.ts); such requests are kept until it ends. */
export const exitRequester = (alertId: number) => `exit:alert ${alertId}`;

/** What a sell's position read saw of the buys an exit asked to cancel: order id → filled. */
export type BuysSeen = Record<string, string>;

interface Buy {
  id: number;
  account_id: number;
  account_name: string;
  symbol: string;
  client_order_id: string;
  qty: string;
  filled: string;
  avg: string | null;
  stop: string | null;
}

const BUY_COLUMNS = `o.id, o.account_id,
  (select a.name from accounts a where a.id = o.account_id) as account_name, o.symbol,
  o.client_order_id, o.qty::text, o.filled_qty::text as filled, o.avg_fill_price::text as avg,
  coalesce(o.stop_price::text, o.decision ->> 'sl') as stop`;

/**
 * After a buy's new fill is recorded, in its transaction (which holds the order row's lock):
 * told when an exit that asked for its cancel did not sell it, because that exit's sell counted
 * less than is filled now or because the exit ended without a sell. An exit that is still waiting
 * or being planned tells it itself when it sells or ends (recordExitSell, exitEndedUnsold).
 */
export async function tellFillAfterExit(tx: Sql, orderId: number): Promise<void> {
  const [r] = await tx.query<{ requested_by: string; counted: string | null }>(
    `select c.requested_by, case when s.id is not null then c.exit_counted_qty::text end as counted
       from cancel_requests c
       join orders o on o.id = c.order_id
       left join orders s on s.id = c.exit_sell_id and s.status <> 'REJECTED'
       left join inbound_alerts a
         on a.id = case when c.requested_by ~ '^exit:alert [0-9]+$'
                        then split_part(c.requested_by, ' ', 2)::bigint end
      where c.order_id = $1 and c.requested_by like 'exit:alert %'
        and (case when s.id is not null then o.filled_qty > c.exit_counted_qty
                  else a.status is null or a.status not in ('RECEIVED', 'PROCESSING') end)
      order by c.id limit 1`,
    [orderId],
  );
  if (!r) return;
  const [buy] = await tx.query<Buy>(`select ${BUY_COLUMNS} from orders o where o.id = $1`, [
    orderId,
  ]);
  await tell(tx, buy, r.requested_by, Number(r.counted ?? 0));
}

/**
 * The exit's sell is recorded (`sellId`): what it counted of each buy whose cancel the exit
 * asked for is kept with the request, and a fill beyond that, recorded after the position was
 * read, is told now; a later one is told by its own record (tellFillAfterExit).
 */
export async function recordExitSell(
  db: Db,
  alertId: number,
  sellId: number,
  seen: BuysSeen,
): Promise<void> {
  await db.transaction(async (tx) => {
    const asked = await tx.query<{ order_id: number }>(
      `update cancel_requests c set exit_sell_id = $2,
              exit_counted_qty = coalesce(($3::jsonb ->> c.order_id::text)::numeric, 0)
         from orders o
        where c.requested_by = $1 and o.id = c.order_id and o.side = 'buy'
        returning c.order_id`,
      [exitRequester(alertId), sellId, JSON.stringify(seen)],
    );
    await tellUnsold(tx, alertId, asked.map((a) => Number(a.order_id)), seen);
  });
}

/**
 * The exit ended without a sell (refused): what any buy whose cancel it asked for filled is
 * held, and told; a later fill is told by its own record (the exit has ended).
 */
export async function exitEndedUnsold(tx: Sql, alertId: number): Promise<void> {
  // The requests first, as the cancels do (cancels.ts), then the orders: the same lock order.
  const asked = await tx.query<{ order_id: number }>(
    `select c.order_id from cancel_requests c join orders o on o.id = c.order_id
      where c.requested_by = $1 and o.side = 'buy' for update of c`,
    [exitRequester(alertId)],
  );
  await tellUnsold(tx, alertId, asked.map((a) => Number(a.order_id)), {});
}

/** Tells each of `ids` that filled more than the exit counted (`seen`; nothing when absent). */
async function tellUnsold(tx: Sql, alertId: number, ids: number[], seen: BuysSeen) {
  if (ids.length === 0) return;
  // Waits for a fill being recorded: what it records is read below.
  await tx.query("select id from orders where id = any($1::int8[]) for share", [ids]);
  const buys = await tx.query<Buy & { counted: string }>(
    `select ${BUY_COLUMNS}, coalesce(($2::jsonb ->> o.id::text)::numeric, 0)::text as counted
       from orders o
      where o.id = any($1::int8[])
        and o.filled_qty > coalesce(($2::jsonb ->> o.id::text)::numeric, 0)
      order by o.id`,
    [ids, JSON.stringify(seen)],
  );
  for (const b of buys) await tell(tx, b, exitRequester(alertId), Number(b.counted));
}

const n = (v: number) => Number(v.toFixed(8)).toString();

/** The WARN, once per buy: what it filled that the exit did not sell is held, with its stop. */
async function tell(tx: Sql, buy: Buy, requestedBy: string, counted: number): Promise<void> {
  const filled = Number(buy.filled);
  const exit = requestedBy.replace(/^exit:/, "exit ");
  const unsold = counted > 0
    ? `the ${n(filled - counted)} it filled after that exit read the position (the ` +
      `${n(counted)} filled before was sold with it). That part is held`
    : "it. It is held";
  await enqueueNotification(tx, {
    severity: "WARN",
    kind: NotificationKind.filledAfterExit,
    text:
      `${
        accountTag({ id: buy.account_id, name: buy.account_name })
      }Buy ${buy.client_order_id} (${buy.symbol}) filled ${n(filled)}${
        filled < Number(buy.qty) ? ` of ${n(Number(buy.qty))}` : ""
      } at ${n(Number(buy.avg))} after ${exit} had asked for its cancel: the cancel came too ` +
      `late, and that exit did not sell ${unsold} as an open position, guarded by its ${
        buy.stop ? `stop ${n(Number(buy.stop))}` : "stop"
      } like any entry; sell it if it is not wanted`,
    dedupeKey: `order:${buy.client_order_id}:filled-after-exit`,
    accountId: buy.account_id,
  });
}
