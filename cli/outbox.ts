import { systemClock } from "../core/clock.ts";
import { UsageError } from "../core/errors.ts";
import { outboxStatus, retryFailed, retryOne } from "../notify/mod.ts";
import { type Command, configure, parse, table, withDb } from "./common.ts";

const help = `Usage:
  pg-solo-lite outbox status [--json]
  pg-solo-lite outbox retry <id>
  pg-solo-lite outbox retry --failed

status: the notifications by status (PENDING, SENT, FAILED), how many are due now, the oldest
still pending, and the most recent failures with their (redacted) errors.
retry: puts one notification, or every FAILED one, back in the queue with its failure count
reset; a running serve sends it within a second. Rows for a deactivated chat are skipped:
reactivate the chat first with pg-solo-lite chats add <chat_id>.

Examples:
  pg-solo-lite outbox status
  pg-solo-lite outbox retry 42
  pg-solo-lite outbox retry --failed`;

const age = (from: Date, now: Date) => {
  const s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
};

const command: Command = {
  name: "outbox",
  help,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === "status") {
      const { values } = parse("outbox", rest, { json: { type: "boolean" } }, { max: 0 });
      const config = configure(io);
      const now = systemClock.now();
      const s = await withDb(config, (db) => outboxStatus(db, now));
      if (values.json) {
        io.out(JSON.stringify(s));
        return;
      }
      io.out(
        `PENDING ${s.counts.PENDING} (due now ${s.due})  SENT ${s.counts.SENT}  FAILED ${s.counts.FAILED}`,
      );
      io.out(
        s.oldestPending
          ? `Oldest pending: #${s.oldestPending.id} (${s.oldestPending.kind}) to chat ${s.oldestPending.chat_id}, queued ${
            age(s.oldestPending.created_at, now)
          } ago`
          : "Oldest pending: none",
      );
      io.out("Recent failures:");
      io.out(table(
        s.recentFailures.map((f) => ({
          id: f.id,
          chat_id: f.chat_id,
          kind: f.kind,
          status: f.status,
          fails: f.fail_count,
          when: f.updated_at,
          error: (f.last_error ?? "").slice(0, 120),
        })),
      ));
      if (!config.telegram.botToken) {
        io.out("Note: TELEGRAM_BOT_TOKEN is not set, so serve does not send anything.");
      }
      return;
    }
    if (sub === "retry") {
      const { values, positionals } = parse("outbox", rest, { failed: { type: "boolean" } }, {
        max: 1,
      });
      if (Boolean(values.failed) === (positionals.length === 1)) {
        throw new UsageError(
          "Expected either a notification id or --failed; see: pg-solo-lite outbox --help",
        );
      }
      const config = configure(io);
      if (values.failed) {
        const r = await withDb(config, (db) => db.transaction((tx) => retryFailed(tx)));
        io.out(
          `Requeued ${r.requeued} failed notification(s)${
            r.skipped > 0 ? `; ${r.skipped} left FAILED because their chat is deactivated` : ""
          }`,
        );
        return;
      }
      const raw = positionals[0];
      const id = Number(raw);
      if (!/^\d{1,15}$/.test(raw) || id === 0) {
        throw new UsageError(
          `Invalid notification id "${raw}": expected a number from outbox status`,
        );
      }
      await withDb(config, (db) => db.transaction((tx) => retryOne(tx, id)));
      io.out(`Requeued notification ${id}`);
      return;
    }
    throw new UsageError(
      sub === undefined
        ? "Missing subcommand: expected status or retry; see: pg-solo-lite outbox --help"
        : `Unknown subcommand "${sub}": expected status or retry; see: pg-solo-lite outbox --help`,
    );
  },
};
export default command;
