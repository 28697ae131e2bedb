/**
 * enqueue_notification's text is masked before it is stored: a caller that quotes an error
 * message (an exchange error with a signed URL, a configuration error naming a key) never puts
 * a secret into the outbox, and so never into a chat. Runs on the real PostgreSQL when
 * TEST_DATABASE_URL is set and on PGlite otherwise.
 */
import assert from "node:assert/strict";
import { registerSecrets } from "../../../core/redact.ts";
import { enqueueNotification } from "../../../notify/enqueue.ts";
import { NotificationKind } from "../../../notify/kinds.ts";
import { testDb } from "../../helpers/db.ts";
import { addChat, resetOutbox } from "../../helpers/outbox.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name: "a notification quoting a secret or a signed URL is stored masked",
  fn: async () => {
    await using t = await testDb();
    await resetOutbox(t.db);
    await addChat(t.db, 7, "INFO");
    const secret = "sk-live-0123456789abcdef0123456789abcdef";
    registerSecrets([secret]);
    await enqueueNotification(t.db, {
      severity: "CRITICAL",
      kind: NotificationKind.executionStartFailed,
      text: `Execution could not start: binance GET https://api.binance.com/api/v3/account?` +
        `timestamp=1&signature=abcdef0123456789abcdef0123456789 failed; key ${secret}`,
      dedupeKey: "mask-1",
    });
    const [row] = await t.db.query<{ text: string }>("select text from notification_outbox");
    assert.ok(!row.text.includes(secret), row.text);
    assert.ok(!row.text.includes("abcdef0123456789abcdef0123456789"), row.text);
    assert.match(row.text, /Execution could not start/);
  },
});
