/**
 * The daily heartbeat (HEARTBEAT_AT, UTC): one message saying the service is alive, what it did
 * in the last 24 hours (alerts received, trades), the equity of each paper book, the open
 * positions, and anything failing (paused accounts, orders of unknown outcome, notifications
 * given up). Silence from the bot is then itself a signal.
 */
import type { Clock } from "../core/clock.ts";
import { errorMessage } from "../core/errors.ts";
import { scheduleCron } from "../core/scheduler.ts";
import type { Sql } from "../db/mod.ts";
import { activePauses, listAccounts, pauseReason } from "../execution/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { dailySchedule } from "../ops/mod.ts";
import type { Component, ServiceContext } from "../runtime/mod.ts";

const DAY = 86_400_000;

export async function heartbeatText(sql: Sql, now: Date, startedAt?: Date): Promise<string> {
  const since = new Date(now.getTime() - DAY);
  const [r] = await sql.query<{
    alerts: number;
    trades: number;
    open: number;
    unknown: number;
    failed_notes: number;
  }>(
    `select (select count(*)::int from inbound_alerts
              where received_at >= $1 and parent_id is null) as alerts,
            (select count(*)::int from orders where status = 'FILLED' and updated_at >= $1) as trades,
            (select count(*)::int from positions where status = 'OPEN' and qty > 0) as open,
            (select count(*)::int from orders where status = 'UNKNOWN') as unknown,
            (select count(*)::int from notification_outbox
              where status = 'FAILED' and updated_at >= $1) as failed_notes`,
    [since],
  );
  const books = await sql.query<{ account: string; asset: string; total: string }>(
    `select a.name as account, t.asset, sum(t.amount)::text as total
       from transactions t join accounts a on a.id = t.account_id
      where t.account = 'paper' group by a.id, a.name, t.asset having sum(t.amount) <> 0
      order by a.id, t.asset`,
  );
  const pauses = await activePauses(sql, now);
  const names = new Map((await listAccounts(sql)).map((a) => [a.id, a.name]));
  const failing = [
    ...pauses.map((p) => `${names.get(p.accountId)}: ${pauseReason(p)}`),
    ...(r.unknown > 0 ? [`${r.unknown} order(s) of unknown outcome`] : []),
    ...(r.failed_notes > 0 ? [`${r.failed_notes} notification(s) given up`] : []),
  ];
  const up = startedAt
    ? ` (up ${Math.round((now.getTime() - startedAt.getTime()) / 3_600_000)} h)`
    : "";
  return [
    `Alive at ${
      now.toISOString().slice(0, 16)
    }Z${up}. Last 24 h: ${r.alerts} alert(s), ${r.trades} trade(s); ${r.open} open position(s)`,
    ...(books.length > 0
      ? [
        `Paper books: ${books.map((b) => `${b.account} ${Number(b.total)} ${b.asset}`).join(", ")}`,
      ]
      : []),
    failing.length === 0 ? "Nothing failing" : `Needs a look: ${failing.join("; ")}`,
  ].join("\n");
}

/** Sends the heartbeat once per UTC day (a restart does not send it twice). */
export async function sendHeartbeat(sql: Sql, clock: Clock, startedAt?: Date): Promise<void> {
  const now = clock.now();
  await enqueueNotification(sql, {
    severity: "INFO",
    kind: NotificationKind.heartbeat,
    text: await heartbeatText(sql, now, startedAt),
    dedupeKey: `heartbeat:${now.toISOString().slice(0, 10)}`,
  });
}

export function heartbeatComponent(ctx: ServiceContext): Promise<Component> {
  const at = ctx.config.heartbeatAt;
  const startedAt = ctx.clock.now();
  return Promise.resolve({
    name: "heartbeat",
    describe: () => `a daily "alive" message at ${at} UTC`,
    start: () => {
      scheduleCron(
        [{
          name: "heartbeat",
          schedule: dailySchedule(at),
          run: () =>
            sendHeartbeat(ctx.db, ctx.clock, startedAt).catch((error) =>
              ctx.log.warn("Heartbeat not sent: {error}", { error: errorMessage(error) })
            ),
        }],
        ctx.signal,
        ctx.log,
      );
      return Promise.resolve();
    },
  });
}
