/** doctor's NOTIFIER_DATABASE_URL check: the notifier role passes, a superuser URL does not. */
import assert from "node:assert/strict";
import { serverUrl, testDb } from "../../helpers/db.ts";
import { loadConfig } from "../../../core/config.ts";
import { notifierRoleCheck } from "../../../ops/mod.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  name: "the notifier role check tells the notifier role from a role with more rights" +
    (serverUrl() ? "" : " (needs TEST_DATABASE_URL)"),
  ignore: !serverUrl(),
  ...serviceTest,
  fn: async () => {
    await using t = await testDb();
    await t.db.exec(await Deno.readTextFile(new URL("../../../db/roles.sql", import.meta.url)));
    const u = new URL(t.url!);
    u.username = "pgsl_notifier";
    const good = await notifierRoleCheck(
      loadConfig({ DATABASE_URL: t.url, NOTIFIER_DATABASE_URL: u.toString() }),
    );
    assert.equal(good.ok, true, good.detail);
    assert.match(good.detail, /pgsl_notifier; outbox and chats only/);
    // Without the right to follow a group upgraded to a supergroup (db/roles.sql not run again
    // after migration 0029), doctor says so.
    await t.db.query(
      "revoke execute on function migrate_telegram_chat(bigint, bigint) from pgsl_notifier",
    );
    const stale = await notifierRoleCheck(
      loadConfig({ DATABASE_URL: t.url, NOTIFIER_DATABASE_URL: u.toString() }),
    );
    assert.equal(stale.ok, false);
    assert.match(
      stale.detail,
      /cannot follow a group upgraded to a supergroup.*run db\/roles\.sql/,
    );
    const bad = await notifierRoleCheck(
      loadConfig({ DATABASE_URL: t.url, NOTIFIER_DATABASE_URL: t.url }),
    );
    assert.equal(bad.ok, false);
    assert.match(bad.detail, /more rights/);
    assert.throws(
      () => loadConfig({ NOTIFIER_DATABASE_URL: t.url }),
      /NOTIFIER_DATABASE_URL: needs DATABASE_URL/,
    );
  },
});
