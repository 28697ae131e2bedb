/**
 * Group commit for exchange answers. Every fill of one symbol updates the same position row,
 * and a transaction holds that row's lock through its commit; one commit per order would make
 * the commit the speed limit. Answers that arrive while the flushers (a few, in parallel) are
 * busy are applied together in the next transaction, position changes last. Should that transaction fail, each answer is applied in
 * its own, so one bad answer never holds back the others. Nothing is lost by a crash here:
 * an order whose answer was not committed is still NEW in the database and is reconciled.
 */
import type { Db } from "../db/mod.ts";
import type { ExchangeOrder } from "../exchange/mod.ts";
import {
  applyExchangeOrder,
  applyToPosition,
  type OrderRow,
  type RecordedFill,
} from "./order_updates.ts";

interface Item {
  row: OrderRow;
  answer: ExchangeOrder;
  done: PromiseWithResolvers<string>;
}

export function createApplyQueue(db: Db, account: string, maxBatch = 50, maxFlushers = 4) {
  let pending: Item[] = [];
  let flushers = 0;

  const applyOne = (item: Item) =>
    db.transaction((tx) =>
      applyExchangeOrder(tx, item.row, item.answer, item.answer.fills ?? [], account)
    );

  async function flush() {
    flushers++;
    try {
      while (pending.length > 0) {
        const batch = pending.slice(0, maxBatch);
        pending = pending.slice(batch.length);
        if (batch.length === 1) {
          await applyOne(batch[0]).then(batch[0].done.resolve, batch[0].done.reject);
          continue;
        }
        try {
          const statuses = await db.transaction(async (tx) => {
            const out: string[] = [];
            // Position rows are shared by every order of a symbol: lock them last, briefly.
            const positions: Array<{ order: OrderRow; fill: RecordedFill }> = [];
            for (const item of batch) {
              out.push(
                await applyExchangeOrder(
                  tx,
                  item.row,
                  item.answer,
                  item.answer.fills ?? [],
                  account,
                  positions,
                ),
              );
            }
            for (const p of positions) await applyToPosition(tx, p.order, p.fill);
            return out;
          });
          batch.forEach((item, i) => item.done.resolve(statuses[i]));
        } catch {
          for (const item of batch) await applyOne(item).then(item.done.resolve, item.done.reject);
        }
      }
    } finally {
      flushers--;
    }
  }

  /** Resolves with the order's new status once its answer is committed. */
  return function apply(row: OrderRow, answer: ExchangeOrder): Promise<string> {
    const item: Item = { row, answer, done: Promise.withResolvers<string>() };
    pending.push(item);
    if (flushers < maxFlushers) void flush();
    return item.done.promise;
  };
}
