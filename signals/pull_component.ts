/**
 * The pull door inside `serve` (only with PULL_ALERTS_URL): polls the file every
 * PULL_ALERTS_INTERVAL_S, backs off on errors, and raises one WARN after a few failed polls in a
 * row (and one INFO when it works again). The URL is a secret: it is never logged.
 */
import { errorMessage } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { startLoop } from "../core/loop.ts";
import { redactText } from "../core/redact.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import type { Component, ServiceContext } from "../runtime/mod.ts";
import { createPuller } from "./pull.ts";

export function pullComponent(ctx: ServiceContext): Promise<Component | undefined> {
  const { db, config, clock, signal } = ctx;
  const url = config.pull.url;
  if (!url) return Promise.resolve(undefined);
  const log = ctx.log.with?.({ component: "pull" }) ?? ctx.log;
  const puller = createPuller({
    db,
    url,
    exchangeId: config.exchange.id,
    queue: ctx.queues.decisions,
    maxAgeS: config.risk.signalMaxAgeS ?? 0,
    intervalS: config.pull.intervalS,
    now: () => clock.now(),
  });
  let stopped: Promise<void> | undefined;
  let warned = false;
  return Promise.resolve({
    name: "pull",
    start() {
      stopped = startLoop({
        name: "pull",
        intervalMs: config.pull.intervalS * 1000,
        maxBackoffMs: Math.max(limits.backoffMaxMs, config.pull.intervalS * 1000),
        signal,
        clock,
        log,
        run: async () => {
          const r = await puller.pullOnce();
          if (r.status === "read") {
            const s = r.summary;
            log.info(
              "Pulled {rows} new line(s): {accepted} accepted, {duplicates} duplicates, " +
                "{rejected} rejected",
              {
                rows: s.rows,
                accepted: s.accepted,
                duplicates: s.duplicates,
                rejected: s.rejected.length,
              },
            );
          }
          if (warned) {
            warned = false;
            await enqueueNotification(db, {
              severity: "INFO",
              kind: NotificationKind.pullRecovered,
              text: "The alerts file (PULL_ALERTS_URL) is read again",
              dedupeKey: `pull:recovered:${clock.now().toISOString()}`,
            });
          }
        },
        onError: async (error, failures) => {
          if (warned || failures < limits.pullFailuresBeforeWarn) return;
          warned = true;
          const reason = redactText(errorMessage(error));
          await enqueueNotification(db, {
            severity: "WARN",
            kind: NotificationKind.pullFailing,
            text: `The alerts file (PULL_ALERTS_URL) could not be read ${failures} times in a ` +
              `row: ${reason}. Alerts in it wait until it can; retrying with backoff`,
            dedupeKey: `pull:failing:${clock.now().toISOString()}`,
          }).catch(() => {});
        },
      }).stopped;
      return Promise.resolve();
    },
    async stop() {
      await stopped;
    },
    describe: () => `polling the alerts file of PULL_ALERTS_URL every ${config.pull.intervalS} s`,
  });
}
