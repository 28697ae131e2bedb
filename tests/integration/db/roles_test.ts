import assert from "node:assert/strict";
import { serverUrl, testDb } from "../../helpers/db.ts";
import { openServerDb } from "../../../db/server.ts";
import { sqlState } from "../../../db/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const needsServer = serverUrl() ? "" : " (needs a PostgreSQL server: set TEST_DATABASE_URL)";

Deno.test({
  name:
    "the app role cannot rewrite the ledger or alter the schema; the notifier sees only the outbox" +
    needsServer,
  ignore: !serverUrl(),
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    await t.db.exec(await Deno.readTextFile(new URL("../../../db/roles.sql", import.meta.url)));
    await t.db.query(
      "insert into exchanges (id) values ('binance'); ",
    );
    await t.db.query(
      "insert into transactions (exchange_id, asset, amount, kind) values ('binance', 'USDT', 1, 'deposit')",
    );
    const as = (role: string) => {
      const u = new URL(t.url!);
      u.username = role;
      return openServerDb({ url: u.toString(), poolSize: 1 });
    };
    const app = await as("pgsl_app");
    const notifier = await as("pgsl_notifier");
    const denied = async (p: Promise<unknown>) => {
      await assert.rejects(p, (e) => sqlState(e) === "42501", "expected permission denied");
    };
    try {
      await app.query(
        "insert into transactions (exchange_id, asset, amount, kind) values ('binance', 'USDT', 2, 'deposit')",
      );
      await denied(app.query("update transactions set amount = 0"));
      await denied(app.query("delete from transactions"));
      await denied(app.query("create table evil (id int)"));
      await denied(app.query("alter table orders add column evil int"));
      await denied(app.query("drop trigger transactions_append_only on transactions"));
      await denied(app.query("update executions set qty = 1"));
      await denied(app.query("delete from executions"));
      await denied(app.query("update inbound_dedupe_keys set payload_hash = 'x'"));
      await denied(app.query("update inbound_dedupe_keys set alert_id = 1"));
      await denied(app.query("delete from inbound_dedupe_keys"));
      // The intake's claim of a key (ON CONFLICT … DO UPDATE of the key to itself, migrations
      // 0003 and 0005) still works as the app role, and returns the first alert's row.
      const [alert] = await app.query<{ id: number }>(
        "insert into inbound_alerts (source, raw_body) values ('pine', '{}') returning id",
      );
      for (let i = 0; i < 2; i++) {
        const [claim] = await app.query<{ alert_id: number }>(
          `insert into inbound_dedupe_keys as d (idempotency_key, payload_hash, alert_id)
           values ('k1', 'h1', $1) on conflict (idempotency_key)
           do update set idempotency_key = d.idempotency_key returning d.alert_id`,
          [alert.id],
        );
        assert.equal(Number(claim.alert_id), Number(alert.id));
      }

      await app.query("insert into telegram_chats (chat_id) values (42)");
      // The notifier deactivates a blocked chat, but never ties a chat to another account.
      await notifier.query("update telegram_chats set active = true, updated_at = now()");
      await denied(notifier.query("update telegram_chats set account_id = 1"));
      await denied(notifier.query("insert into telegram_chats (chat_id) values (43)"));
      // It follows a group upgraded to a supergroup only through migrate_telegram_chat, which
      // keeps the account tie; it cannot move a chat's id itself.
      await app.query("insert into telegram_chats (chat_id, account_id) values (-42, 1)");
      await denied(notifier.query("update telegram_chats set chat_id = -43 where chat_id = -42"));
      const [moved] = await notifier.query<{ r: { outcome: string } }>(
        "select migrate_telegram_chat(-42, -1000000000042) as r",
      );
      assert.equal(moved.r.outcome, "moved");
      const [tie] = await notifier.query<{ account_id: number }>(
        "select account_id from telegram_chats where chat_id = -1000000000042",
      );
      assert.equal(Number(tie.account_id), 1);
      assert.equal(
        (await notifier.query<{ n: number }>(
          "select enqueue_notification('INFO', 'k', 'hello', 'd1') as n",
        ))[0].n,
        1,
      );
      await notifier.query("update notification_outbox set status = 'SENT'");
      await denied(notifier.query("select * from orders"));
      await denied(notifier.query("select * from transactions"));
      await denied(notifier.query("insert into strategies (name) values ('x')"));
    } finally {
      await app.close();
      await notifier.close();
    }
  },
});
