/**
 * Execution inside `serve`: on the shared exchange (ccxt for sandbox/live, the paper broker for
 * paper; see `openExchange`), runs three loops — decisions (woken by the in-memory queue,
 * polling as a fallback), reconciliation, and the market sync. Nothing here blocks start-up or stops the
 * service: an exchange that is down or in maintenance only delays the loops, which back off.
 */
import type { Component, ServiceContext } from "../runtime/mod.ts";
import type { Config } from "../core/config.ts";
import { ConfigError, errorMessage, nextStep } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { startLoop } from "../core/loop.ts";
import { backoffMs } from "../core/backoff.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import type { Db } from "../db/mod.ts";
import { createCcxtExchange } from "../exchange/mod.ts";
import { syncMarkets } from "./markets.ts";
import { createPaperExchange } from "./paper_broker.ts";
import type { Exchange } from "../exchange/mod.ts";
import { createExecutionAgent, type ExecutionAgent } from "./agent.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";

/** The configured exchange: live or sandbox through ccxt, or the paper broker over its data. */
export async function openExchange(config: Config, db: Db): Promise<Exchange> {
  if (config.exchange.mode !== "paper") return await createCcxtExchange(config.exchange);
  // Paper mode reads public market data only: no keys are sent.
  const market = await createCcxtExchange({
    ...config.exchange,
    apiKey: undefined,
    apiSecret: undefined,
  });
  return createPaperExchange({
    db,
    market,
    initialBalanceQuote: config.exchange.paperBalanceQuote,
    depositAsset: config.symbols[0]?.split("/")[1] ?? "USDT",
  });
}

/**
 * Positions and orders carry no account, so the positions and orders of one mode must not be
 * traded in another: live trading would sell paper positions (and the market sync would
 * overwrite the stored mode). A switch is allowed once nothing is open or active.
 */
export async function checkModeSwitch(db: Db, exchangeId: string, mode: string): Promise<void> {
  const [row] = await db.query<{ mode: string; positions: number; orders: number }>(
    `select e.mode,
            (select count(*)::int from positions p
              where p.exchange_id = e.id and p.status = 'OPEN') as positions,
            (select count(*)::int from orders o
              where o.exchange_id = e.id
                and o.status in ${ACTIVE_ORDER_STATUSES_SQL}) as orders
       from exchanges e where e.id = $1`,
    [exchangeId],
  );
  if (!row || row.mode === mode || (row.positions === 0 && row.orders === 0)) return;
  throw new ConfigError(
    `EXCHANGE_MODE is ${mode} but this database holds ${row.positions} open position(s) and ` +
      `${row.orders} active order(s) on ${exchangeId} from ${row.mode} mode; close them in ` +
      `${row.mode} mode first, or use another database for ${mode}`,
  );
}

// Longer than ~80 lines: the component's start, retry and stop share the loops' state; each part is short.
export async function executionComponent(ctx: ServiceContext): Promise<Component> {
  const { config, db, clock, signal } = ctx;
  await checkModeSwitch(db, config.exchange.id, config.exchange.mode);
  const log = ctx.log.with?.({ component: "execution" }) ?? ctx.log;
  let exchange: Exchange | undefined;
  let agent: ExecutionAgent | undefined;
  const loops: Promise<void>[] = [];
  let ready: Promise<void> | undefined;

  const init = async () => {
    exchange = await ctx.exchange.get();
    agent = createExecutionAgent({ db, exchange, clock, log, config });
    let marketsReady: boolean;
    try {
      const recovered = await agent.recover();
      if (recovered > 0) log.info("{n} interrupted alert(s) queued again", { n: recovered });
      // Decisions wait for the trading rules. The first sync runs in the background (an
      // exchange that is down or in maintenance is retried with backoff) and wakes the
      // decisions loop.
      marketsReady = (await db.query(
        "select 1 from exchange_instruments where exchange_id = $1 limit 1",
        [exchange.id],
      )).length > 0;
    } catch (error) {
      // Nothing is running yet: the next attempt starts from scratch (the shared exchange
      // stays open; the service closes it).
      exchange = undefined;
      throw error;
    }
    const reconcile = startLoop({
      name: "reconcile",
      intervalMs: limits.reconcileIntervalMs,
      maxBackoffMs: limits.backoffMaxMs,
      signal,
      clock,
      log,
      run: async () => void (await agent!.reconcileOnce()),
    });
    const decisions = startLoop({
      name: "execution",
      intervalMs: limits.executionPollMs,
      maxBackoffMs: limits.backoffMaxMs,
      signal,
      clock,
      log,
      wake: (fn) => ctx.queues.decisions.onPush(fn),
      run: async () => {
        ctx.queues.decisions.drain();
        if (!marketsReady) return;
        const s = await agent!.runOnce();
        // A full batch means more may be waiting: go again at once.
        return s.claimed >= limits.executionBatchSize ? 0 : undefined;
      },
    });
    const sync = startLoop({
      name: "market-sync",
      intervalMs: limits.marketSyncIntervalMs,
      maxBackoffMs: limits.backoffMaxMs,
      signal,
      clock,
      log,
      run: async () => {
        const n = await syncMarkets(db, exchange!);
        log.info("Synced {n} markets of {exchange}", { n, exchange: exchange!.id });
        if (!marketsReady) {
          marketsReady = true;
          decisions.wake();
        }
      },
    });
    loops.push(sync.stopped, reconcile.stopped, decisions.stopped);
  };

  /**
   * A failed start (the database or ccxt not there yet) is retried with backoff until it
   * works or the service stops, and raised CRITICAL once per run of the service: without the
   * retry, serve would keep accepting alerts that nothing executes. A configuration error
   * cannot get better by waiting: it is raised and not retried.
   */
  const startWithRetry = async () => {
    const dedupeKey = `execution:start-failed:${clock.now().toISOString()}`;
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await init();
        if (attempt > 0) log.info("Execution started after {n} failed attempt(s)", { n: attempt });
        return;
      } catch (error) {
        const fatal = nextStep(error).step === "fix_config";
        const message = errorMessage(error);
        log.error("Execution could not start: {error}", { error: message });
        await enqueueNotification(db, {
          severity: "CRITICAL",
          kind: NotificationKind.executionStartFailed,
          text: fatal
            ? `Execution is stopped: ${message}. Fix the configuration and restart the service`
            : `Execution could not start and is retrying: ${message}. Alerts are kept until it runs`,
          dedupeKey,
        }).catch(() => {});
        if (fatal) return;
        await clock.sleep(
          backoffMs(attempt, {
            baseMs: limits.executionStartRetryMs,
            maxMs: limits.backoffMaxMs,
          }),
          signal,
        );
      }
    }
  };

  return {
    name: "execution",
    start() {
      // Loading ccxt and reaching the exchange must not delay `serve` being ready.
      ready = startWithRetry();
      return Promise.resolve();
    },
    async stop() {
      await ready;
      // A loop may be waiting on an exchange call (up to EXCHANGE_TIMEOUT_MS): bounded wait.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(loops),
        new Promise((r) => timer = setTimeout(r, limits.shutdownGraceMs)),
      ]);
      clearTimeout(timer);
    },
    describe: () =>
      `${config.exchange.id} in ${config.exchange.mode} mode${
        config.exchange.apiUrl ? " (REST base from EXCHANGE_API_URL)" : ""
      }; orders are reconciled every ${limits.reconcileIntervalMs / 1000} s`,
  };
}
