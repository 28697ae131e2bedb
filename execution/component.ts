/**
 * Execution inside `serve`: on the shared exchange (ccxt for sandbox/live, the paper broker for
 * paper; see `openExchange`), runs three loops — decisions (woken by the in-memory queue,
 * polling as a fallback), reconciliation, and the market sync. Nothing here blocks start-up or stops the
 * service: an exchange that is down or in maintenance only delays the loops, which back off.
 */
import {
  type Component,
  type MarketSource,
  type ServiceContext,
  type SharedExchange,
  sharedExchange,
} from "../runtime/mod.ts";
import type { Config } from "../core/config.ts";
import { ConfigError, errorMessage, nextStep } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { startLoop } from "../core/loop.ts";
import { backoffMs } from "../core/backoff.ts";
import { enqueueNotification, loopAlarm, NotificationKind } from "../notify/mod.ts";
import type { Db } from "../db/mod.ts";
import { createCcxtExchange } from "../exchange/mod.ts";
import { syncMarkets } from "./markets.ts";
import { createPaperExchange } from "./paper_broker.ts";
import type { Exchange } from "../exchange/mod.ts";
import { createExecutionAgent, type ExecutionAgent } from "./agent.ts";
import {
  type Account,
  DEFAULT_ACCOUNT_ID,
  DEFAULT_ACCOUNT_NAME,
  keysOf,
  listAccounts,
  missingKeys,
  recordKeyFingerprint,
  syncDefaultAccount,
} from "./accounts.ts";

/** The default account's exchange: live or sandbox through ccxt, or the paper broker. */
export function openExchange(config: Config, db: Db): Promise<Exchange> {
  return openAccountExchange(config, db, {
    id: DEFAULT_ACCOUNT_ID,
    name: DEFAULT_ACCOUNT_NAME,
    exchangeId: config.exchange.id,
    mode: config.exchange.mode,
    enabled: true,
    user: null,
  });
}

/**
 * An account's exchange: ccxt with the account's own keys (sandbox, live), or the paper broker
 * over the account's own paper book, with public market data only (no keys are sent).
 */
export async function openAccountExchange(
  config: Config,
  db: Db,
  account: Account,
): Promise<Exchange> {
  const keys = keysOf(config, account);
  const settings = { ...config.exchange, id: account.exchangeId, mode: account.mode, ...keys };
  if (account.mode !== "paper") {
    const missing = missingKeys(config, account);
    if (missing.length > 0) {
      throw new ConfigError(
        `Account ${account.name} trades in ${account.mode} mode but ${missing.join("; ")}`,
      );
    }
    const exchange = await createCcxtExchange(settings);
    await recordKeyFingerprint(db, account, keys.apiKey!);
    return exchange;
  }
  const market = await createCcxtExchange({ ...settings, apiKey: undefined, apiSecret: undefined });
  return createPaperExchange({
    db,
    market,
    accountId: account.id,
    initialBalanceQuote: account.paperBalance ?? config.exchange.paperBalanceQuote,
    depositAsset: config.symbols[0]?.split("/")[1] ?? "USDT",
  });
}

/**
 * Public market data by market: the default account's exchange for its own market, a client
 * without keys (opened once) for any other market an account trades on.
 */
export function marketDataOf(config: Config, defaultExchange: SharedExchange) {
  const others = new Map<string, SharedExchange>();
  const own = (m: MarketSource) =>
    m.exchangeId === config.exchange.id && m.sandbox === (config.exchange.mode === "sandbox") &&
    (m.apiUrl ?? "") === (config.exchange.apiUrl ?? "");
  return {
    get: (m: MarketSource): Promise<Exchange> => {
      if (own(m)) return defaultExchange.get();
      const key = `${m.exchangeId}|${m.sandbox}|${m.apiUrl ?? ""}`;
      let shared = others.get(key);
      if (!shared) {
        shared = sharedExchange(() =>
          createCcxtExchange({
            id: m.exchangeId,
            mode: m.sandbox ? "sandbox" : "paper",
            apiUrl: m.apiUrl,
            timeoutMs: config.exchange.timeoutMs,
          })
        );
        others.set(key, shared);
      }
      return shared.get();
    },
    async close() {
      for (const shared of others.values()) await shared.close().catch(() => {});
    },
  };
}

/** The exchanges of the accounts, each opened once and shared by the execution loops. */
function accountExchanges(ctx: ServiceContext) {
  const opened = new Map<number, SharedExchange>();
  return {
    get(account: Account): Promise<Exchange> {
      if (account.id === DEFAULT_ACCOUNT_ID) return ctx.exchange.get();
      let shared = opened.get(account.id);
      if (!shared) {
        shared = sharedExchange(() => openAccountExchange(ctx.config, ctx.db, account));
        opened.set(account.id, shared);
      }
      return shared.get();
    },
    async close() {
      for (const shared of opened.values()) await shared.close().catch(() => {});
    },
  };
}

// Longer than ~80 lines: the component's start, retry and stop share the loops' state; each part is short.
export async function executionComponent(ctx: ServiceContext): Promise<Component> {
  const { config, db, clock, signal } = ctx;
  await syncDefaultAccount(db, config.exchange);
  const exchanges = accountExchanges(ctx);
  const log = ctx.log.with?.({ component: "execution" }) ?? ctx.log;
  let exchange: Exchange | undefined;
  let agent: ExecutionAgent | undefined;
  const loops: Promise<void>[] = [];
  let ready: Promise<void> | undefined;

  const init = async () => {
    exchange = await ctx.exchange.get();
    // The loops wake each other (set once they run): an exit that asked for a cancel (of a
    // protective stop, a take-profit limit, a buy) has the reconcile pass that sends it and
    // records the exchange's answer run now, and a pass that settled orders wakes the
    // decisions, so an exit waiting for them sells within moments, not an interval later.
    let wakeReconcile = () => {};
    let wakeDecisions = () => {};
    agent = createExecutionAgent({
      db,
      exchangeFor: (account) => exchanges.get(account),
      clock,
      log,
      config,
      onCancelAsked: () => wakeReconcile(),
    });
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
      onFailing: loopAlarm(db, "orders are not reconciled with the exchange"),
      intervalMs: limits.reconcileIntervalMs,
      maxBackoffMs: limits.backoffMaxMs,
      signal,
      clock,
      log,
      run: async () => {
        const s = await agent!.reconcileOnce();
        if (s.settled > 0) wakeDecisions();
      },
    });
    const decisions = startLoop({
      name: "execution",
      onFailing: loopAlarm(db, "signals are not traded (they are kept and traded once it works)"),
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
        // A full batch means more may be waiting, and alerts fanned out to several accounts
        // wait as one alert each, buys handed back for the cash of the pass's other buys
        // for a fresh balance: go again at once. A batch of alerts handed back because their
        // account waits does not count, or the loop would spin on them. (Of the buys of one
        // account and asset, the first planned never waits: each pass goes further.)
        return s.claimed - s.deferred >= limits.executionBatchSize || s.fannedOut > 0 ||
            s.waitingForCash > 0
          ? 0
          : undefined;
      },
    });
    wakeReconcile = reconcile.wake;
    wakeDecisions = decisions.wake;
    const sync = startLoop({
      name: "market-sync",
      onFailing: loopAlarm(db, "trading rules are not refreshed"),
      intervalMs: limits.marketSyncIntervalMs,
      maxBackoffMs: limits.backoffMaxMs,
      signal,
      clock,
      log,
      run: async () => {
        const n = await syncMarkets(db, exchange!);
        log.info("Synced {n} markets of {exchange}", { n, exchange: exchange!.id });
        await syncOtherExchanges(exchange!.id);
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
  /** Accounts on another exchange than the default account's need its trading rules too. */
  const syncOtherExchanges = async (done: string) => {
    const seen = new Set([done]);
    for (const account of await listAccounts(db)) {
      if (!account.enabled || seen.has(account.exchangeId)) continue;
      seen.add(account.exchangeId);
      try {
        const n = await syncMarkets(db, await exchanges.get(account));
        log.info("Synced {n} markets of {exchange}", { n, exchange: account.exchangeId });
      } catch (error) {
        log.warn("Markets of {exchange} not synced (account {account}): {error}", {
          exchange: account.exchangeId,
          account: account.name,
          error: errorMessage(error),
        });
      }
    }
  };

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
      await exchanges.close();
    },
    describe: () =>
      `${config.exchange.id} in ${config.exchange.mode} mode${
        config.exchange.apiUrl ? " (REST base from EXCHANGE_API_URL)" : ""
      }; orders are reconciled every ${limits.reconcileIntervalMs / 1000} s`,
  };
}
