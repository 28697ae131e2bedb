/** `chats` and `outbox` through main(), on their own database, with a captured Io. */
import assert from "node:assert/strict";
import type { Db } from "../../../db/db.ts";
import { enqueueNotification } from "../../../notify/enqueue.ts";
import { testDb, withTestData } from "../../helpers/db.ts";
import { cliRunner } from "../../helpers/io.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const t = await testDb({ onDisk: true });
// The embedded database is one process's at a time: the commands open it themselves.
if (t.kind === "embedded") await t.db.close();
const env: Record<string, string> = t.url
  ? { DATABASE_URL: t.url, LOG_LEVEL: "error" }
  : { DATA_DIR: t.dataDir!, LOG_LEVEL: "error" };

const run = cliRunner(env);
const cli = (...argv: string[]) => run(argv);

const withSql = <T>(fn: (db: Db) => Promise<T>) => withTestData(t, fn);

Deno.test({
  name: "notification commands",
  ...serviceTest,
  fn: async (ctx) => {
    try {
      await ctx.step(
        "chats add, list and remove with labels, severities and group ids",
        async () => {
          assert.deepEqual(await cli("chats", "add", "123456789", "--label", "alice"), {
            code: 0,
            out: "Added chat 123456789 (alice): receives INFO and above",
            err: "",
          });
          let r = await cli("chats", "add", "-1001234567890", "--min-severity", "warn");
          assert.equal(r.out, "Added chat -1001234567890: receives WARN and above");
          r = await cli("chats", "add", "-1001234567890", "--label", "ops");
          assert.equal(r.out, "Updated chat -1001234567890 (ops): receives WARN and above");
          r = await cli("chats", "list", "--json");
          const chats = JSON.parse(r.out);
          assert.deepEqual(
            chats.map((
              c: Record<string, unknown>,
            ) => [c.chat_id, c.label, c.min_severity, c.active]),
            [[-1001234567890, "ops", "WARN", true], [123456789, "alice", "INFO", true]],
          );
          r = await cli("chats", "list");
          assert.match(r.out, /^chat_id\s+label\s+min_severity\s+active/);
          assert.match(r.out, /123456789\s+alice\s+INFO\s+yes/);
        },
      );

      await ctx.step("bad input is a usage error (exit 2) that says what to do", async () => {
        const cases: [string[], RegExp][] = [
          [["chats", "add", "abc"], /Invalid chat id "abc"/],
          [["chats", "add", "1", "--min-severity", "LOUD"], /Invalid --min-severity "LOUD"/],
          [["chats", "add"], /Missing argument/],
          [["chats", "add", "1", "--bogus"], /Unknown option '--bogus'.*chats --help/],
          [["chats", "rename"], /Unknown subcommand "rename"/],
          [["outbox", "retry"], /Expected either a notification id or --failed/],
          [["outbox", "retry", "7", "--failed"], /Expected either a notification id or --failed/],
          [["outbox", "retry", "x1"], /Invalid notification id "x1"/],
        ];
        for (const [argv, message] of cases) {
          const r = await cli(...argv);
          assert.equal(r.code, 2, argv.join(" "));
          assert.match(r.err, message);
        }
        const help = await cli("outbox", "--help");
        assert.equal(help.code, 0);
        assert.match(help.out, /outbox retry --failed/);
      });

      await ctx.step(
        "outbox status counts, shows the oldest pending and the failures",
        async () => {
          await withSql(async (db) => {
            await enqueueNotification(db, {
              severity: "WARN",
              kind: "order_placed",
              text: "a",
              dedupeKey: "a",
            });
            await enqueueNotification(db, {
              severity: "INFO",
              kind: "order_filled",
              text: "b",
              dedupeKey: "b",
            });
            await db.query(
              `update notification_outbox set status = 'FAILED', fail_count = 5,
                    last_error = 'Telegram refused the message (502: Bad Gateway)'
              where dedupe_key = 'a@123456789'`,
            );
            await db.query(
              "update notification_outbox set status = 'SENT' where dedupe_key = 'a@-1001234567890'",
            );
          });
          const r = await cli("outbox", "status", "--json");
          assert.equal(r.code, 0, r.err);
          const s = JSON.parse(r.out);
          assert.deepEqual(s.counts, { PENDING: 1, SENT: 1, FAILED: 1 });
          assert.equal(s.oldestPending.kind, "order_filled");
          assert.equal(s.recentFailures.length, 1);
          assert.match(s.recentFailures[0].last_error, /502/);
          const text = await cli("outbox", "status");
          assert.match(text.out, /PENDING 1 \(due now 1\)\s+SENT 1\s+FAILED 1/);
          assert.match(text.out, /Oldest pending: #\d+ \(order_filled\) to chat 123456789/);
          assert.match(text.out, /Note: TELEGRAM_BOT_TOKEN is not set/);
        },
      );

      await ctx.step("outbox retry requeues a failed row and refuses a sent one", async () => {
        const ids = await withSql((db) =>
          db.query<{ id: number; status: string }>(
            "select id, status from notification_outbox order by id",
          )
        );
        const failed = ids.find((r) => r.status === "FAILED")!.id;
        const sent = ids.find((r) => r.status === "SENT")!.id;
        assert.deepEqual(await cli("outbox", "retry", String(failed)), {
          code: 0,
          out: `Requeued notification ${failed}`,
          err: "",
        });
        const [row] = await withSql((db) =>
          db.query<{ status: string; fail_count: number }>(
            "select status, fail_count from notification_outbox where id = $1",
            [failed],
          )
        );
        assert.deepEqual(row, { status: "PENDING", fail_count: 0 });
        let r = await cli("outbox", "retry", String(sent));
        assert.equal(r.code, 1);
        assert.match(r.err, new RegExp(`Notification ${sent} was already sent`));
        r = await cli("outbox", "retry", "999999");
        assert.equal(r.code, 1);
        assert.match(r.err, /Notification 999999 does not exist/);
      });

      await ctx.step(
        "chats remove drops its queue; retry --failed skips deactivated chats",
        async () => {
          let r = await cli("chats", "remove", "123456789");
          assert.equal(r.out, "Removed chat 123456789; 2 queued message(s) will not be sent");
          r = await cli("chats", "remove", "55");
          assert.equal(r.code, 1);
          assert.match(r.err, /Chat 55 is not registered/);
          await withSql(async (db) => {
            await enqueueNotification(db, {
              severity: "CRITICAL",
              kind: "order_rejected",
              text: "c",
              dedupeKey: "c",
            });
            await db.query(
              "update notification_outbox set status = 'FAILED' where dedupe_key = 'c@-1001234567890'",
            );
            const rows = await db.query(
              "select 1 from notification_outbox where dedupe_key = 'c@123456789'",
            );
            assert.equal(rows.length, 0, "a removed chat gets no new rows");
          });
          r = await cli("outbox", "retry", "--failed");
          assert.equal(
            r.out,
            "Requeued 1 failed notification(s); 2 left FAILED because their chat is deactivated",
          );
          r = await cli("chats", "list", "--json");
          const removed = JSON.parse(r.out).find((c: { chat_id: number }) =>
            c.chat_id === 123456789
          );
          assert.deepEqual([removed.active, removed.deactivated_reason], [
            false,
            "removed by the operator",
          ]);
        },
      );
    } finally {
      await t.close();
    }
  },
});
