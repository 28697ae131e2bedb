/**
 * The notifications part of `serve`. Without TELEGRAM_BOT_TOKEN nothing is sent: rows stay
 * PENDING in the outbox (nothing is lost) and the start-up log says so once.
 */
import type { Component, ServiceContext } from "../runtime/mod.ts";
import { logger } from "../core/log.ts";
import { outboxWorker } from "./worker.ts";

export async function notifyComponent(ctx: ServiceContext): Promise<Component> {
  const { config } = ctx;
  const token = config.telegram.botToken;
  if (!token) {
    return {
      name: "notify",
      describe: () =>
        "off: TELEGRAM_BOT_TOKEN is not set, so notifications stay queued in the outbox " +
        "(set it and restart to deliver them)",
    };
  }
  // grammY is loaded only when it is used.
  const { telegramSender } = await import("./telegram.ts");
  const controller = new AbortController();
  const signal = AbortSignal.any([ctx.signal, controller.signal]);
  // With NOTIFIER_DATABASE_URL the worker runs as the notifier role: outbox and chats only.
  const { openDb } = await import("../db/mod.ts");
  const db = config.notifierDatabaseUrl
    ? await openDb({
      databaseUrl: config.notifierDatabaseUrl,
      dbPoolSize: 2,
      dataDir: config.dataDir,
    })
    : ctx.db;
  const worker = outboxWorker({
    db,
    sender: telegramSender({ token, apiUrl: config.telegram.apiUrl }),
    clock: ctx.clock,
    log: logger("notify"),
    perChatPerS: config.telegram.perChatPerS,
    globalPerS: config.telegram.globalPerS,
  });
  let stopped: Promise<void> | undefined;
  const limit = (perS: number) => perS > 0 ? `${perS}/s` : "off";
  return {
    name: "notify",
    async start() {
      stopped = (await worker.start(signal)).stopped;
    },
    async stop() {
      controller.abort();
      await stopped;
      if (db !== ctx.db) await db.close();
    },
    describe: () =>
      `delivering the outbox to Telegram${
        config.notifierDatabaseUrl ? " as the notifier role" : ""
      }${config.telegram.apiUrl ? ` at ${config.telegram.apiUrl}` : ""} (rate limits: per chat ${
        limit(config.telegram.perChatPerS)
      }, overall ${limit(config.telegram.globalPerS)})`,
  };
}
