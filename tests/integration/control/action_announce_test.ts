/**
 * An operator action on one account is announced to that account's chats as well as the
 * operator's: the people of alice's account learn their entries were paused, resumed, a position
 * exited or an order cancelled. An action on every account goes to the operator's chats only.
 */
import assert from "node:assert/strict";
import { cancelOrder, pauseTrading, resumeTrading } from "../../../control/actions.ts";
import { addChat } from "../../../notify/chats.ts";
import { seedInstrument, testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const admin = { via: "cli" as const, who: "ops" };

Deno.test({
  name: "an action on one account is told to its chats; one on all accounts to the operator's",
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    const { db } = t;
    const id = async (name: string) => {
      await db.query(
        "insert into accounts (name, exchange_id, mode) values ($1, 'binance', 'paper')",
        [name],
      );
      return Number(
        (await db.query<{ id: string }>("select id::text from accounts where name = $1", [name]))[0]
          .id,
      );
    };
    const alice = await id("alice");
    const bob = await id("bob");
    await addChat(db, { chatId: 100, label: "ops" });
    await addChat(db, { chatId: 200, accountId: alice });
    await addChat(db, { chatId: 300, accountId: bob });
    const told = async () => {
      const rows = await db.query<{ chat_id: string }>(
        `select chat_id::text from notification_outbox where kind = 'control_action'
          order by chat_id`,
      );
      await db.query("delete from notification_outbox");
      return rows.map((r) => Number(r.chat_id));
    };

    assert.ok((await pauseTrading(db, { via: "telegram", who: "4242" }, { account: "alice" })).ok);
    // The operator's chats hear who did it; the account's chats hear "the operator".
    const texts = await db.query<{ chat_id: string; text: string }>(
      "select chat_id::text, text from notification_outbox order by chat_id",
    );
    assert.deepEqual(texts.map((r) => Number(r.chat_id)), [100, 200]);
    assert.match(
      texts[0].text,
      /^Telegram user 4242: New entries of account alice paused \(paused by Telegram user 4242\)/,
    );
    assert.match(
      texts[1].text,
      /^The operator: New entries of account alice paused \(paused by the operator\)/,
    );
    assert.doesNotMatch(texts[1].text, /4242/);
    assert.deepEqual(await told(), [100, 200]);
    assert.ok((await resumeTrading(db, admin, { account: "alice" })).ok);
    assert.deepEqual(await told(), [100, 200]);
    assert.ok((await pauseTrading(db, admin, {})).ok);
    assert.deepEqual(await told(), [100], "every account: the operator's chats");
    assert.ok((await resumeTrading(db, admin, {})).ok);
    assert.deepEqual(await told(), [100]);

    await seedInstrument(db);
    const [order] = await db.query<{ id: string }>(
      `insert into orders (account_id, exchange_id, symbol, side, qty, ref_price, status,
                           client_order_id, idempotency_key)
       values ($1, 'binance', 'BTC/USDT', 'buy', 0.01, 50000, 'OPEN', 'c-1', 'k-1')
       returning id::text`,
      [bob],
    );
    assert.ok((await cancelOrder(db, admin, Number(order.id))).ok);
    assert.deepEqual(await told(), [100, 300]);
  },
});
