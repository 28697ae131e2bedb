/**
 * Chats tied to an account (`chats add … --account NAME`): such a chat is sent only its
 * account's notifications, while an operator chat (tied to none) is sent every one.
 */
import assert from "node:assert/strict";
import { cliDb } from "../../helpers/cli_db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { enqueueNotification, NotificationKind } from "../../../notify/mod.ts";

Deno.test({
  ...serviceTest,
  name: "a chat tied to an account gets only that account's notifications; an operator chat all",
  fn: async () => {
    await using t = await cliDb();
    for (const name of ["alice", "bob"]) {
      assert.equal((await t.cli(["accounts", "add", name])).code, 0);
    }
    let r = await t.cli(["chats", "add", "111", "--label", "alice", "--account", "alice"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Added chat 111 \(alice\): receives INFO and above of account alice only/);
    r = await t.cli(["chats", "add", "-100222", "--label", "ops"]);
    assert.equal(r.out, "Added chat -100222 (ops): receives INFO and above");
    assert.equal((await t.cli(["chats", "add", "333", "--account", "bob"])).code, 0);

    r = await t.cli(["chats", "add", "444", "--account", "zed"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /No account named "zed"; accounts: default, alice, bob/);
    r = await t.cli(["chats", "add", "111", "--account", "bob", "--operator"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--account and --operator exclude each other/);
    r = await t.cli(["chats", "add", "111", "--min-severity", "WARN"]);
    assert.match(r.out, /WARN and above of account alice only/, "no --account: the tie is kept");
    await t.cli(["chats", "add", "111", "--min-severity", "INFO"]);

    r = await t.cli(["chats", "list", "--json"]);
    const chats = JSON.parse(r.out) as { chat_id: number | string; account: string | null }[];
    assert.deepEqual(chats.map((c) => [Number(c.chat_id), c.account]), [
      [-100222, null],
      [111, "alice"],
      [333, "bob"],
    ]);
    r = await t.cli(["chats", "list"]);
    assert.match(r.out, /^-100222 +ops +INFO +yes +all \(operator\)/m);
    assert.match(r.out, /^111 +alice +INFO +yes +alice /m);

    const recipients = await t.withDb(async (db) => {
      const ids = Object.fromEntries(
        (await db.query<{ name: string; id: string }>("select name, id::text from accounts"))
          .map((a) => [a.name, Number(a.id)]),
      );
      const send = (key: string, accountId?: number) =>
        enqueueNotification(db, {
          severity: "INFO",
          kind: NotificationKind.orderFilled,
          text: `fill ${key}`,
          dedupeKey: key,
          accountId,
        });
      assert.equal(await send("of-alice", ids.alice), 2);
      assert.equal(await send("of-bob", ids.bob), 2);
      assert.equal(await send("of-default", ids.default), 1);
      assert.equal(await send("of-service"), 1);
      const rows = await db.query<{ chat_id: string; text: string }>(
        "select chat_id::text, text from notification_outbox order by chat_id, id",
      );
      const by: Record<string, string[]> = {};
      for (const row of rows) (by[row.chat_id] ??= []).push(row.text.replace("fill ", ""));
      return by;
    });
    assert.deepEqual(recipients, {
      "-100222": ["of-alice", "of-bob", "of-default", "of-service"],
      "111": ["of-alice"],
      "333": ["of-bob"],
    });

    r = await t.cli(["chats", "add", "111", "--operator"]);
    assert.equal(r.out, "Updated chat 111 (alice): receives INFO and above");
    r = await t.cli(["chats", "list", "--json"]);
    assert.equal(
      (JSON.parse(r.out) as { chat_id: number; account: string | null }[])
        .find((c) => Number(c.chat_id) === 111)?.account,
      null,
    );
  },
});

Deno.test({
  ...serviceTest,
  name: "a chat newly tied to an account is not sent what was queued for it before",
  fn: async () => {
    await using t = await cliDb();
    for (const name of ["alice", "bob"]) {
      assert.equal((await t.cli(["accounts", "add", name])).code, 0);
    }
    assert.equal((await t.cli(["chats", "add", "-100222", "--label", "ops"])).code, 0);
    assert.equal((await t.cli(["chats", "add", "111", "--account", "alice"])).code, 0);
    assert.equal((await t.cli(["chats", "add", "333", "--account", "bob"])).code, 0);
    await t.withDb(async (db) => {
      const ids = Object.fromEntries(
        (await db.query<{ name: string; id: string }>("select name, id::text from accounts"))
          .map((a) => [a.name, Number(a.id)]),
      );
      const send = (key: string, accountId?: number) =>
        enqueueNotification(db, {
          severity: "INFO",
          kind: NotificationKind.orderFilled,
          text: `fill ${key}`,
          dedupeKey: key,
          accountId,
        });
      await send("of-alice", ids.alice);
      await send("of-bob", ids.bob);
      await send("of-service");
    });

    // The operator chat turns out to be bob's: what it was queued as an operator chat (alice's
    // fill, the service's own messages) must not reach bob.
    let r = await t.cli(["chats", "add", "-100222", "--account", "bob"]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /of account bob only; 3 message\(s\) queued before the tie will not be sent/,
    );
    // Alice's chat handed to bob: alice's queued fill stays unsent.
    r = await t.cli(["chats", "add", "111", "--account", "bob"]);
    assert.match(r.out, /1 message\(s\) queued before the tie will not be sent/);
    // The same tie again: nothing of it is held back.
    r = await t.cli(["chats", "add", "333", "--account", "bob"]);
    assert.doesNotMatch(r.out, /will not be sent/);

    const rows = await t.withDb((db) =>
      db.query<{ chat_id: string; text: string; status: string; last_error: string | null }>(
        `select chat_id::text, text, status, last_error from notification_outbox
          order by chat_id, id`,
      )
    );
    const pendingTo = (chat: string) =>
      rows.filter((x) => x.chat_id === chat && x.status === "PENDING").map((x) => x.text);
    assert.deepEqual(pendingTo("-100222"), []);
    assert.deepEqual(pendingTo("111"), []);
    assert.deepEqual(pendingTo("333"), ["fill of-bob"]);
    const failed = rows.filter((x) => x.status === "FAILED");
    assert.equal(failed.length, 4);
    assert.ok(failed.every((x) => /tied to account bob after it was queued/.test(x.last_error!)));
  },
});
