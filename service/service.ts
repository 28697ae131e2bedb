/**
 * The running service: one database, the single-instance lock, migrations, the HTTP server
 * and the components, stopped in reverse order with in-flight work finished.
 */
import type { Config } from "../core/config.ts";
import { type Clock, systemClock } from "../core/clock.ts";
import { errorMessage, RuntimeError } from "../core/errors.ts";
import { sha256Hex } from "../core/hash.ts";
import { redactText } from "../core/redact.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { LIFECYCLE, type Log, logger } from "../core/log.ts";
import { limits } from "../core/limits.ts";
import { type LoopHandle, startLoop } from "../core/loop.ts";
import type { Db } from "../db/mod.ts";
import { describeHolder, openDb } from "../db/mod.ts";
import { migrate, privilegeWarning } from "../db/mod.ts";
import { healthRoute, router } from "../http/mod.ts";
import {
  type Component,
  type ComponentFactory,
  type ServiceContext,
  sharedExchange,
  workQueue,
} from "../runtime/mod.ts";
import { marketDataOf, openExchange } from "../execution/mod.ts";
import { componentFactories } from "./components.ts";

export interface RunningService {
  /** The address the HTTP server listens on, e.g. http://127.0.0.1:8080. */
  url: string;
  ctx: ServiceContext;
  /** Milliseconds from the call to ready. */
  readyMs: number;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Called when the service cannot go on safely (the instance lock was lost). */
  onFatal?: (reason: string) => void;
  clock?: Clock;
  log?: Log;
  /** Replaces the registered component factories (tests). */
  factories?: ComponentFactory[];
  /** An already open database (tests); it is not closed by stop(). */
  db?: Db;
}

// Longer than ~80 lines: start order and shutdown share the started components; read top to bottom.
export async function startService(
  config: Config,
  options: StartOptions = {},
): Promise<RunningService> {
  const t0 = performance.now();
  const log = options.log ?? logger("serve");
  const clock = options.clock ?? systemClock;
  const ownDb = !options.db;
  const db = options.db ?? await openDb(config, { serveLocal: true, command: "serve" });
  const controller = new AbortController();
  const started: Component[] = [];
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;

  let lockLoop: LoopHandle | undefined;
  const exchange = sharedExchange(() => openExchange(config, db));
  const marketData = marketDataOf(config, exchange);
  // No silent failures: a promise nobody awaited that rejects is logged and raised CRITICAL
  // (once per message and hour), and the service keeps running.
  const onUnhandled = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    const message = errorMessage(event.reason);
    log.error("Unhandled error: {error}", { error: message });
    void enqueueNotification(db, {
      severity: "CRITICAL",
      kind: NotificationKind.unhandledError,
      text: `Unexpected error inside serve: ${redactText(message)}. The service keeps running; ` +
        `look at the log around ${new Date().toISOString()}`,
      dedupeKey: `unhandled:${sha256Hex(message).slice(0, 16)}:${
        new Date().toISOString().slice(0, 13)
      }`,
    }).catch(() => {});
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  const shutdown = async () => {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
    controller.abort();
    // Stop taking requests first (in-flight ones finish), then stop the agents.
    if (server) {
      await Promise.race([
        server.shutdown(),
        new Promise((r) => setTimeout(r, limits.shutdownGraceMs)),
      ]);
    }
    await lockLoop?.stopped;
    for (const c of [...started].reverse()) {
      try {
        await c.stop?.();
      } catch (error) {
        log.error("Stopping {component} failed: {error}", {
          component: c.name,
          error: errorMessage(error),
        });
      }
    }
    if (server) {
      await Promise.race([
        server.shutdown(),
        new Promise((r) => setTimeout(r, limits.shutdownGraceMs)),
      ]);
    }
    await marketData.close();
    await exchange.close().catch((error) =>
      log.error("Closing the exchange failed: {error}", { error: errorMessage(error) })
    );
    if (ownDb) await db.close();
  };

  try {
    if (!(await db.tryLockInstance())) {
      const holder = await db.instanceLockHolder?.().catch(() => undefined);
      throw new RuntimeError(
        holder?.command === "restore"
          ? `A restore is running on this database (${
            describeHolder(holder)
          }); start serve once it has finished`
          : `Another pg-solo-lite serve is already running on this database (${
            describeHolder(holder)
          }); stop it first (systemctl stop pg-solo-lite) or point DATABASE_URL elsewhere`,
      );
    }
    const migrated = await migrate(db);
    if (migrated.applied.length > 0) {
      log.info("Applied migrations {applied}", { applied: migrated.applied });
    }
    // Once per start: a role that can bypass the ledger's triggers should not run the service.
    const tooPowerful = await privilegeWarning(db).catch(() => undefined);
    if (tooPowerful) log.warn("Database role: {warning}", { warning: tooPowerful });
    const ctx: ServiceContext = {
      config,
      db,
      clock,
      log,
      signal: controller.signal,
      queues: { decisions: workQueue<number>() },
      exchange,
      marketData: marketData.get,
    };
    const components: Component[] = [];
    for (const factory of options.factories ?? componentFactories) {
      const c = await factory(ctx);
      if (c) components.push(c);
    }
    const routes = [healthRoute(db), ...components.flatMap((c) => c.routes ?? [])];
    const listening = Promise.withResolvers<Deno.NetAddr>();
    server = Deno.serve({
      hostname: config.http.host,
      port: config.http.port,
      signal: controller.signal,
      onListen: (addr) => listening.resolve(addr),
      onError: (error) => {
        log.error("HTTP handler error: {error}", { error: errorMessage(error) });
        return new Response("internal error", { status: 500 });
      },
    }, router(routes, log));
    const addr = await listening.promise;
    for (const c of components) {
      await c.start?.();
      started.push(c);
      const line = c.describe?.();
      if (line) log.info("{component}: {state}", { component: c.name, state: line });
    }
    lockLoop = startLoop({
      name: "instance-lock",
      intervalMs: limits.instanceLockCheckMs,
      signal: controller.signal,
      clock: systemClock,
      log,
      run: async () => {
        if (await db.tryLockInstance()) return;
        const reason = "Lost the single-instance lock: another serve took over this database";
        log.error(reason);
        options.onFatal?.(reason);
      },
    });
    const url = `http://${addr.hostname}:${addr.port}`;
    const readyMs = Math.round(performance.now() - t0);
    // Always shown (core/log.ts), even with LOG_LEVEL=error: scripts and tests wait for it.
    logger(LIFECYCLE).info(
      "Ready on {url} in {readyMs} ms (database: {kind}, exchange mode: {mode})",
      {
        url,
        readyMs,
        kind: db.kind,
        mode: config.exchange.mode,
      },
    );
    return { url, ctx, readyMs, stop: shutdown };
  } catch (error) {
    await shutdown().catch(() => {});
    throw error;
  }
}
