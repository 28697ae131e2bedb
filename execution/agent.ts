/**
 * The Execution agent: RECEIVED alerts → at most one exchange order each, per account. An
 * alert not yet routed goes to the accounts that trade its strategy (fan_out.ts): to the one
 * account directly, or as one child alert per account, each then planned, sized and sent on
 * its own account's exchange with its own pause and backoff, so one account's outage never
 * holds up another. It claims alerts
 * with FOR UPDATE SKIP LOCKED and runs each through process.ts: plan (pure, plan.ts), record
 * the order with its deterministic client order id BEFORE calling the exchange, apply the
 * answer. A lost answer leaves the order UNKNOWN for the reconciler (reconcile.ts); nothing is
 * ever resent.
 */
import type { Config } from "../core/config.ts";
import type { Clock } from "../core/clock.ts";
import { backoffMs } from "../core/backoff.ts";
import { ConfigError, errorMessage, nextStep, RejectedError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import { redactText } from "../core/redact.ts";
import type { Db } from "../db/mod.ts";
import type { Exchange } from "../exchange/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { alerts, type ClaimedAlert } from "../signals/mod.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";
import {
  type Account,
  accountTag,
  DEFAULT_ACCOUNT_ID,
  ledgerBook,
  listAccounts,
} from "./accounts.ts";
import { createApplyQueue } from "./apply_queue.ts";
import { pauseOf } from "./outcome.ts";
import { parseDecision } from "./plan.ts";
import {
  createReconciler,
  emptyReconcileSummary,
  type ReconcileSummary,
  type ReconcileTuning,
} from "./reconcile.ts";
import type { PassCache } from "./store.ts";
import {
  accountEquity,
  afterFailure,
  type AlertContext,
  cashWaits,
  createFailureCounter,
  processAlert,
} from "./process.ts";
import { markEquity } from "./protections.ts";
import { routeBatch, type Routed } from "./fan_out.ts";
import { runCancelRequests } from "./cancels.ts";
import { createProtector } from "./protective.ts";

export interface ExecutionDeps {
  db: Db;
  /** The default account's exchange; used for every account when `exchangeFor` is not given. */
  exchange?: Exchange;
  /** The exchange an account trades on, opened once; throws while it cannot be opened. */
  exchangeFor?: (account: Account) => Promise<Exchange>;
  clock: Clock;
  log: Log;
  config: Pick<Config, "risk" | "strategy">;
  tuning?: Partial<ReconcileTuning & { batchSize: number; concurrency: number }>;
  /** An exit asked for a cancel (sent by the reconcile pass): serve runs that pass now. */
  onCancelAsked?: () => void;
}

export interface RunSummary {
  claimed: number;
  executed: number;
  rejected: number;
  duplicate: number;
  unknown: number;
  deferred: number;
  /** Alerts of strategies traded on several accounts, handed on as one alert per account. */
  fannedOut: number;
  /** Buys handed back for the next pass: the pass's other buys may spend their cash. */
  waitingForCash: number;
}

/** What the agent keeps per account once its exchange is open: its context, its reconciler. */
interface AccountState {
  account: Account;
  ctx: AlertContext;
  reconcile: () => Promise<ReconcileSummary>;
  /** Protective stops on the exchange (live and sandbox) or in the paper broker (paper). */
  protect: () => Promise<unknown>;
}

/** Per account, whether or not its exchange could be opened: its pause and its outage. */
interface Health {
  /** No new entries and no reconciliation before this time (epoch ms). */
  pausedUntil: number;
  /** Consecutive failures of its exchange (its own backoff). */
  outages: number;
  /** When the outage being reported began; unset while the account is well. */
  outageSince?: string;
}

// Longer than ~80 lines: one closure over the per-account state; the pass, the routing and the outage handling are named inner functions.
export function createExecutionAgent(deps: ExecutionDeps) {
  const { db, clock, log } = deps;
  const batchSize = deps.tuning?.batchSize ?? limits.executionBatchSize;
  const concurrency = deps.tuning?.concurrency ?? limits.executionConcurrency;
  /** Client order ids whose create call is in flight in this process: not reconciled yet. */
  const inFlight = new Set<string>();
  /** Alerts that waited once for the cash of a pass's other buys (processAlert). */
  const cashWaited = new Set<number>();
  const states = new Map<number, AccountState>();
  const opening = new Map<number, Promise<AccountState>>();
  const health = new Map<number, Health>();
  const failures = createFailureCounter();

  const healthOf = (accountId: number): Health => {
    let h = health.get(accountId);
    if (!h) health.set(accountId, h = { pausedUntil: 0, outages: 0 });
    return h;
  };
  const waiting = (accountId: number) => clock.now().getTime() < healthOf(accountId).pausedUntil;

  const exchangeFor = deps.exchangeFor ?? ((account: Account) => {
    if (account.id === DEFAULT_ACCOUNT_ID && deps.exchange) return Promise.resolve(deps.exchange);
    return Promise.reject(
      new ConfigError(`No exchange is configured for account "${account.name}"`),
    );
  });

  async function openState(account: Account): Promise<AccountState> {
    const exchange = await exchangeFor(account);
    const book = ledgerBook(exchange.mode);
    const h = healthOf(account.id);
    const ctx: AlertContext = {
      ...deps,
      exchange,
      account,
      inFlight,
      cashWaited,
      applyAnswer: createApplyQueue(db, book),
      pauseEntries: (ms, why) => {
        h.pausedUntil = Math.max(h.pausedUntil, clock.now().getTime() + ms);
        log.warn("New entries of account {account} paused for {ms} ms: {why}", {
          account: account.name,
          ms,
          why: redactText(why),
        });
      },
      entriesPaused: () => waiting(account.id),
      protect: deps.config.risk.exchangeStops !== true ? undefined : (symbol) =>
        createProtector({
          db,
          exchange,
          account: ctx.account,
          log,
          inFlight,
          stopLimitOffsetPct: deps.config.risk.stopLimitOffsetPct,
        }).protectOnce({ symbol }),
    };
    const reconcile = createReconciler({
      ...deps,
      exchange,
      account: book,
      accountId: account.id,
      inFlight,
    }).reconcileOnce;
    const protect = () => ctx.protect?.() ?? Promise.resolve();
    return { account, ctx, reconcile, protect };
  }

  /** The state of an account, opened on first use; a failed open is tried again next time. */
  function stateOf(account: Account): Promise<AccountState> {
    const known = states.get(account.id);
    if (known) {
      known.account = account;
      known.ctx.account = account;
      return Promise.resolve(known);
    }
    let p = opening.get(account.id);
    if (!p) {
      p = openState(account).then((s) => {
        states.set(account.id, s);
        return s;
      }).finally(() => opening.delete(account.id));
      opening.set(account.id, p);
    }
    return p;
  }

  /**
   * An account's exchange failed (down, rate limited, in maintenance, wrong keys, or it cannot
   * be opened): only that account waits, with its own backoff — its alerts are not even claimed
   * meanwhile, so they never crowd out the others' — and the operator and the account's chats
   * hear about it once per outage (CRITICAL when only the operator can cure it).
   */
  async function accountFailed(account: Account, error: unknown) {
    const h = healthOf(account.id);
    const step = nextStep(error).step;
    const wait = Math.max(
      pauseOf(nextStep(error)) ?? 0,
      backoffMs(h.outages++, { baseMs: limits.executionStartRetryMs, maxMs: limits.backoffMaxMs }),
    );
    h.pausedUntil = Math.max(h.pausedUntil, clock.now().getTime() + wait);
    log.warn("Account {account}: its exchange failed, its signals wait {ms} ms: {error}", {
      account: account.name,
      ms: wait,
      error: errorMessage(error),
    });
    if (h.outageSince) return;
    h.outageSince = clock.now().toISOString();
    const operator = step === "fix_config" || step === "fix_credentials";
    await enqueueNotification(db, {
      severity: operator ? "CRITICAL" : "WARN",
      kind: NotificationKind.accountOutage,
      text: `${accountTag(account)}Trading on account ${account.name} is held up: ${
        redactText(errorMessage(error))
      }. ${
        operator ? "Fix it and restart the service; meanwhile its" : "Its"
      } signals wait and are retried; other accounts are not affected`,
      dedupeKey: `account:${account.id}:outage:${h.outageSince}`,
      accountId: account.id,
    }).catch(() => {});
  }

  /** After a call to the account's exchange worked: the outage (if any) is over. */
  async function accountRecovered(account: Account) {
    const h = healthOf(account.id);
    const since = h.outageSince;
    h.outages = 0;
    h.outageSince = undefined;
    if (!since) return;
    log.info("Account {account}: its exchange answers again", { account: account.name });
    await enqueueNotification(db, {
      severity: "INFO",
      kind: NotificationKind.accountOutage,
      text: `${accountTag(account)}Account ${account.name} trades again`,
      dedupeKey: `account:${account.id}:recovered:${since}`,
      accountId: account.id,
    }).catch(() => {});
  }

  /**
   * Alerts of passes that failed, to hand back if they were left PROCESSING unsent (their own
   * release may have failed with the database); tried before each pass until it works.
   */
  const stranded = new Set<number>();
  const releaseStranded = async () => {
    if (stranded.size === 0) return;
    const ids = [...stranded];
    const n = await alerts.releaseStranded(db, ids);
    for (const id of ids) stranded.delete(id);
    if (n > 0) log.info("{n} alert(s) left by a failed pass are received again", { n });
  };

  /** One alert of a pass: routed to its account (or fanned out), then executed there. */
  async function runAlert(
    alert: ClaimedAlert,
    accounts: Map<number, Account>,
    cache: PassCache,
    summary: RunSummary,
    routes: Map<number, Routed>,
  ): Promise<unknown> {
    let accountId = alert.account_id;
    if (accountId === null) {
      const routed = routes.get(alert.id)!;
      if ("children" in routed) {
        summary.fannedOut++;
        return;
      }
      if ("refused" in routed) {
        summary.rejected++;
        return;
      }
      accountId = routed.accountId;
    }
    const account = accounts.get(accountId);
    if (!account) throw new Error(`Alert ${alert.id} names account ${accountId}, which is unknown`);
    let state: AccountState;
    try {
      state = await stateOf(account);
    } catch (error) {
      await alerts.releaseAlert(db, alert.id);
      summary.deferred++;
      if (nextStep(error).step === "database_down") return error;
      await accountFailed(account, error);
      return;
    }
    try {
      const outcome = await processAlert(state.ctx, alert, cache);
      summary[outcome]++;
      if (outcome === "executed") await accountRecovered(account);
    } catch (error) {
      stranded.add(alert.id);
      const outcome = await afterFailure(state.ctx, failures, alert.id, error);
      summary[outcome]++;
      const step = nextStep(error).step;
      // The database is everyone's: the pass stops and the loop backs off. An outage or a
      // refusal of the account's exchange (a read refused: a suspended account, a missing
      // permission) is this account's: only it waits, with its own backoff, and the others go
      // on. Any other error that handed the alert back (a broken schema, a bug) backs the
      // loop off.
      if (step === "database_down") return error;
      if (
        step === "retry" || step === "wait" || step === "pause" || step === "fix_credentials" ||
        (outcome === "deferred" && error instanceof RejectedError)
      ) {
        await accountFailed(account, error);
      } else if (outcome === "deferred") return error;
    }
  }

  /** Claims up to one batch of RECEIVED alerts and executes them; resolves when all are done. */
  async function runOnce(): Promise<RunSummary> {
    await releaseStranded();
    const accounts = new Map((await listAccounts(db)).map((a) => [a.id, a]));
    // An account whose exchange asked to wait (429), is in maintenance or down: nothing new is
    // sent for it until its pause ends; its alerts stay RECEIVED, unclaimed, and the others go
    // on. When every account waits, nothing is claimed at all.
    const held = [...accounts.keys()].filter(waiting);
    const claimed = held.length === accounts.size
      ? []
      : await alerts.claimReceived(db, batchSize, held);
    const summary: RunSummary = {
      claimed: claimed.length,
      executed: 0,
      rejected: 0,
      duplicate: 0,
      unknown: 0,
      deferred: 0,
      fannedOut: 0,
      waitingForCash: 0,
    };
    let next = 0;
    let firstError: unknown;
    const cache: PassCache = new Map();
    // Routed together: one read of each strategy's accounts and one update for the batch.
    const unrouted = claimed.filter((a) => a.account_id === null).map((a) => {
      const parsed = parseDecision(a.decision);
      return { id: a.id, decision: parsed.ok ? parsed.decision : undefined };
    });
    let routes: Map<number, Routed>;
    try {
      routes = unrouted.length > 0 ? await routeBatch(db, unrouted) : new Map();
    } catch (error) {
      for (const a of claimed) stranded.add(a.id);
      await Promise.all(claimed.map((a) => alerts.releaseUnlessSent(db, a.id).catch(() => {})));
      throw error;
    }
    const worker = async () => {
      while (next < claimed.length) {
        const alert = claimed[next++];
        try {
          const error = await runAlert(alert, accounts, cache, summary, routes);
          if (error !== undefined) firstError ??= error;
        } catch (error) {
          stranded.add(alert.id);
          summary.deferred++;
          await alerts.releaseUnlessSent(db, alert.id).catch(() => {});
          firstError ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, claimed.length) }, worker));
    summary.waitingForCash = cashWaits(cache);
    // A failure lets the loop back off; the deferred alerts are RECEIVED again.
    if (firstError) throw firstError;
    return summary;
  }

  /**
   * One reconciliation pass per account that has something to settle. One account's exchange
   * failing pauses that account alone (accountFailed) and the pass goes on; the database
   * failing stops the pass.
   */
  async function reconcileOnce(): Promise<ReconcileSummary> {
    const total = emptyReconcileSummary();
    const active = new Set(
      (await db.query<{ account_id: string }>(
        `select distinct account_id from orders
          where status in ${ACTIVE_ORDER_STATUSES_SQL}
             or (status = 'REJECTED' and reconcile_misses > 0 and created_at >= $1)
             or id in (select order_id from cancel_requests where status = 'PENDING')
          union
         select account_id from positions
          -- (Every holding account when its equity is recorded: markEquityIfDue.)
          where status = 'OPEN' and qty > 0
            and (stop_price is not null
                 or ($2 and account_id in (select id from accounts where enabled)))`,
        [
          new Date(clock.now().getTime() - limits.reconcileGivenUpWindowMs),
          Boolean(deps.config.risk.maxDailyLossPct || deps.config.risk.maxDrawdownPct),
        ],
      )).map((r) => Number(r.account_id)),
    );
    for (const account of await listAccounts(db)) {
      if (!active.has(account.id) && !states.has(account.id)) continue;
      // An account whose exchange asked to wait, or is down, is left alone until its pause ends.
      if (waiting(account.id)) {
        total.accountsWaiting++;
        continue;
      }
      try {
        const state = await stateOf(account);
        await runCancelRequests(db, state.ctx.exchange, account.id);
        const s = await state.reconcile();
        for (const k of Object.keys(s) as (keyof ReconcileSummary)[]) total[k] += s[k];
        // After the exchange's word is recorded: a stop that ended is placed again in the same
        // pass, and an entry filled while resting gets its stop.
        await state.protect();
        await markEquityIfDue(state);
      } catch (error) {
        if (nextStep(error).step === "database_down") throw error;
        total.accountsWaiting++;
        await accountFailed(account, error);
      }
    }
    return total;
  }

  /** When each account's equity was last recorded by a reconcile pass (ms). */
  const equityMarked = new Map<number, number>();
  /** Accounts whose readings are not settled: since when, when to try again, whether told. */
  const equityUnsettled = new Map<number, { since: number; retryAt: number; told: boolean }>();

  /**
   * Records the equity of an account that holds positions, at most every
   * `limits.equityMarkIntervalMs` and at the first pass of each UTC day, when the daily loss
   * limit or the drawdown lock is on: the day's first equity is then its value near 00:00 UTC,
   * so a loss before the day's first entry counts, and the peak follows the market. Positions
   * of more than one quote asset are left to the entries' own readings (an equity in one quote
   * cannot be told); disabled accounts are not read. A reading that is not settled
   * (accountEquity: an order unanswered or changing, a resting one not as recorded) is not
   * recorded and is tried again a minute later; unsettled for `equityUnsettledWarnMs`, it is
   * one WARN on Telegram (the protections then judge by an old reading), and one INFO when a
   * reading is recorded again. A reading whose exchange asks to
   * wait, or whose credentials or database fail, is the account's outage (accountFailed); any
   * other failure is logged, and the reading is taken again after the interval.
   */
  async function markEquityIfDue(state: AccountState): Promise<void> {
    const risk = deps.config.risk;
    if ((!risk.maxDailyLossPct && !risk.maxDrawdownPct) || !state.account.enabled) return;
    const id = state.account.id;
    const now = clock.now();
    const last = equityMarked.get(id);
    const sameDay = last !== undefined &&
      new Date(last).toISOString().slice(0, 10) === now.toISOString().slice(0, 10);
    if (sameDay && now.getTime() - last < limits.equityMarkIntervalMs) return;
    const unsettled = equityUnsettled.get(id);
    if (unsettled && now.getTime() < unsettled.retryAt) return;
    try {
      const quotes = await db.query<{ quote: string }>(
        `select distinct split_part(symbol, '/', 2) as quote from positions
          where account_id = $1 and status = 'OPEN' and qty > 0`,
        [id],
      );
      if (quotes.length === 1) {
        const quote = quotes[0].quote;
        const reading = await accountEquity(state.ctx, new Map(), quote, { strictPrices: true });
        if (!reading.settled) {
          const u = unsettled ?? { since: now.getTime(), retryAt: 0, told: false };
          u.retryAt = now.getTime() + limits.equityUnsettledRetryMs;
          equityUnsettled.set(id, u);
          if (!u.told && now.getTime() - u.since >= limits.equityUnsettledWarnMs) {
            const text = `Equity of account ${state.account.name} not recorded for ` +
              `${Math.round((now.getTime() - u.since) / 60_000)} min: its orders on the ` +
              "exchange are not as recorded (or one is unanswered, or the open orders cannot be " +
              "read); the daily loss limit and the drawdown lock judge by its last reading " +
              "until they are";
            await enqueueNotification(db, {
              severity: "WARN",
              kind: NotificationKind.equityUnsettled,
              text,
              dedupeKey: `account:${id}:equity-unsettled:${u.since}`,
              accountId: id,
            });
            u.told = true;
            log.warn("{text}", { text });
          }
          return;
        }
        await markEquity(db, id, reading.equity, quote, now);
        if (unsettled?.told) {
          await enqueueNotification(db, {
            severity: "INFO",
            kind: NotificationKind.equitySettled,
            text: `Equity of account ${state.account.name} is recorded again: its orders are ` +
              "as recorded",
            dedupeKey: `account:${id}:equity-settled:${unsettled.since}`,
            accountId: id,
          });
        }
      }
      equityUnsettled.delete(id);
      equityMarked.set(id, now.getTime());
    } catch (error) {
      const step = nextStep(error);
      if (
        pauseOf(step) !== undefined || step.step === "database_down" ||
        step.step === "fix_credentials"
      ) throw error;
      equityMarked.set(id, now.getTime());
      log.warn("Equity of account {account} not recorded, tried again in {min} min: {error}", {
        account: state.account.name,
        min: limits.equityMarkIntervalMs / 60_000,
        error: errorMessage(error),
      });
    }
  }

  /**
   * After a restart: alerts left PROCESSING without an order (or only with orders refused
   * before reaching the book and never filled) were never sent, so they are RECEIVED again;
   * those with an order wait for the reconciler to settle the order.
   */
  function recover(): Promise<number> {
    return alerts.recoverUnsent(db);
  }

  /** Whether an account's new entries wait (a 429, maintenance, an outage). */
  const entriesPaused = (accountId = DEFAULT_ACCOUNT_ID) => waiting(accountId);

  return { runOnce, recover, reconcileOnce, entriesPaused };
}

export type ExecutionAgent = ReturnType<typeof createExecutionAgent>;
