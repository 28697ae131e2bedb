/**
 * One claimed alert through the Execution agent: parse, freshness, snapshot, plan, record the
 * order BEFORE the create call, send, and apply the answer or the failure's outcome table
 * (outcome.ts). The agent (agent.ts) claims batches and runs these; the shared state (entries
 * pause, create calls in flight) comes in as an AlertContext.
 */
import type { Config } from "../core/config.ts";
import type { Clock } from "../core/clock.ts";
import { errorMessage, nextStep, TemporaryError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import { redactText } from "../core/redact.ts";
import type { Db } from "../db/mod.ts";
import { numberToDecimal } from "../trading/decimal.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";
import type { Exchange, ExchangeOrder } from "../exchange/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { alerts, type ClaimedAlert } from "../signals/mod.ts";
import {
  cashHeldBy,
  DEFAULT_STOP_LIMIT_OFFSET_PCT,
  type OrderPlan,
  parseDecision,
  planOrder,
  type PlanResult,
  staleEntry,
} from "./plan.ts";
import { type OrderRow, rejectOrder } from "./order_updates.ts";
import { adoptOwnOrder, cached, insertOrder, loadSnapshot, type PassCache } from "./store.ts";
import { countsAsFailure, createFailure, pauseOf } from "./outcome.ts";
import * as orders from "./orders_sql.ts";
import { type Account, accountTag } from "./accounts.ts";
import { exitEndedUnsold, exitRequester, recordExitSell } from "./exit_fills.ts";
import { holdsLess, writeDownToHoldings } from "./holdings.ts";
import {
  activePauses,
  entryFacts,
  entryVerdict,
  pauseReason,
  protectionsOn,
  tripProtection,
} from "./protections.ts";

export type Outcome = "executed" | "rejected" | "duplicate" | "unknown" | "deferred";

export interface AlertContext {
  db: Db;
  /** The account this alert is executed for, and its exchange. */
  account: Account;
  exchange: Exchange;
  clock: Clock;
  log: Log;
  config: Pick<Config, "risk" | "strategy">;
  /** Client order ids whose create call is in flight in this process: not reconciled yet. */
  inFlight: Set<string>;
  /** Alerts that waited once for the cash of a pass's other buys: they wait no more. */
  cashWaited?: Set<number>;
  applyAnswer: (row: OrderRow, answer: ExchangeOrder) => Promise<unknown>;
  pauseEntries: (ms: number, why: string) => void;
  entriesPaused: () => boolean;
  /** Places the protective stops still missing (of one symbol, or all); paper ones too. */
  protect?: (symbol?: string) => Promise<unknown>;
  /** An exit asked for a cancel: the reconcile pass that sends it may run now. */
  onCancelAsked?: () => void;
}

export async function refuse(
  ctx: AlertContext,
  alertId: number,
  key: string,
  reason: string,
  options: { quiet?: boolean } = {},
): Promise<Outcome> {
  await ctx.db.transaction(async (tx) => {
    // An exit refused sold nothing: a buy whose cancel it asked for and that filled is held.
    await exitEndedUnsold(tx, alertId);
    await alerts.rejectAlert(tx, alertId, reason);
    if (options.quiet) return;
    await enqueueNotification(tx, {
      severity: "WARN",
      kind: NotificationKind.decisionRejected,
      text: `${accountTag(ctx.account)}Signal ${key} not traded: ${reason}`,
      dedupeKey: `alert:${alertId}:rejected`,
      accountId: ctx.account.id,
    });
  });
  if (options.quiet) ctx.log.info("Alert {alertId} not traded: {reason}", { alertId, reason });
  else ctx.log.warn("Alert {alertId} not traded: {reason}", { alertId, reason });
  return "rejected";
}

async function send(
  ctx: AlertContext,
  alertId: number,
  row: OrderRow,
  plan: OrderPlan,
): Promise<Outcome> {
  const { db, exchange, log, inFlight } = ctx;
  inFlight.add(row.client_order_id);
  try {
    const answer = await exchange.createOrder({
      symbol: row.symbol,
      side: plan.side,
      type: plan.type,
      qty: row.qty,
      price: plan.price,
      clientOrderId: row.client_order_id,
    });
    const status = await ctx.applyAnswer(row, answer);
    if (status === "FILLED" && plan.purpose === "entry" && ctx.protect) {
      // The entry is recorded; its stop goes on the exchange now. A failure here is retried by
      // the reconcile loop, which protects every open position it finds unprotected.
      await ctx.protect(row.symbol).catch((error) =>
        log.warn("Protective stop of {symbol} not placed yet: {error}", {
          symbol: row.symbol,
          error: errorMessage(error),
        })
      );
    }
    return "executed";
  } catch (error) {
    const failure = createFailure(error);
    if (failure.kind === "rejected") {
      await db.transaction(async (tx) => {
        await rejectOrder(tx, row, errorMessage(error));
        if (failure.recheck) await orders.markForRecheck(tx, row.id);
      });
      return "rejected";
    }
    if (failure.kind === "deferred") {
      ctx.pauseEntries(failure.pauseMs, errorMessage(error));
      await db.transaction(async (tx) => {
        await orders.markNotAccepted(tx, row.id, errorMessage(error));
        await alerts.releaseAlert(tx, alertId);
      });
      return "deferred";
    }
    // failure.kind === "unknown": the order may exist; evidence decides.
    await orders.markUnknown(db, row.id, errorMessage(error));
    log.warn("Order {cid} outcome unknown, to be reconciled: {error}", {
      cid: row.client_order_id,
      error: errorMessage(error),
    });
    return "unknown";
  } finally {
    inFlight.delete(row.client_order_id);
  }
}

/** A signal of the strategy agent itself (only it may use "strategy:" keys, intake.ts). */
const isStrategyAgentSignal = (source: string, key: string) =>
  source === "strategy" && key.startsWith("strategy:");

/**
 * Whether the account has an active buy of the symbol (sent, resting, or its answer lost), and
 * whether the key has any order yet.
 */
async function strategyBuyFacts(
  db: AlertContext["db"],
  accountId: number,
  exchangeId: string,
  symbol: string,
  key: string,
): Promise<{ buying: boolean; keyed: boolean }> {
  const [row] = await db.query<{ buying: boolean; keyed: boolean }>(
    `select exists (select 1 from orders where account_id = $1 and exchange_id = $2
                       and symbol = $3 and side = 'buy'
                       and status in ${ACTIVE_ORDER_STATUSES_SQL}) as buying,
            exists (select 1 from orders where account_id = $1 and idempotency_key = $4) as keyed`,
    [accountId, exchangeId, symbol, key],
  );
  return row;
}

export async function processAlert(
  ctx: AlertContext,
  alert: ClaimedAlert,
  cache: PassCache,
): Promise<Outcome> {
  const { db, exchange, clock, config, account } = ctx;
  const parsed = parseDecision(alert.decision);
  if (!parsed.ok) return await refuse(ctx, alert.id, `alert ${alert.id}`, parsed.reason);
  const d = parsed.decision;
  const stale = staleEntry(
    { source: alert.source, receivedAt: alert.received_at, decision: d },
    clock.now(),
    config.risk.signalMaxAgeS ?? 0,
  );
  if (stale) return await refuse(ctx, alert.id, d.idempotencyKey, stale);
  if (ctx.entriesPaused()) {
    await alerts.releaseAlert(db, alert.id);
    return "deferred";
  }
  // A disabled account takes no new entry, also from alerts routed to it before (`accounts
  // disable`); its exits and stops go on. The order insert checks again.
  if (d.action === "buy" && !account.enabled) {
    return await refuse(
      ctx,
      alert.id,
      d.idempotencyKey,
      `account ${account.name} is disabled: it takes no new entries`,
      { quiet: true },
    );
  }
  // A paused account takes no new entry: refused with the reason on the alert (the pause itself
  // was announced); exits always pass.
  // Read once per pass and account; the order insert checks again (store.ts insertOrder).
  const pauses = d.action === "buy"
    ? await cached(cache, `pauses:${account.id}`, () => activePauses(db, clock.now(), account.id))
    : [];
  if (pauses.length > 0) {
    return await refuse(ctx, alert.id, d.idempotencyKey, pauseReason(pauses[0]), {
      quiet: true,
    });
  }
  const snap = await loadSnapshot(db, { id: account.id, exchangeId: exchange.id }, d, cache, {
    riskPct: account.riskPct ?? config.risk.perTradePct,
    stopPct: config.strategy.stopPct,
    takeProfitPct: config.strategy.takeProfitPct,
  }, { exitOf: d.action === "sell" ? alert.id : undefined });
  // An account's own risk per trade caps the strategy's.
  if (account.riskPct !== undefined) {
    snap.strategy.riskPct = Math.min(snap.strategy.riskPct, account.riskPct);
  }
  if (!snap.instrument) {
    return await refuse(
      ctx,
      alert.id,
      d.idempotencyKey,
      `${d.symbol} is not an active market on ${exchange.id}; check the symbol or sync markets`,
    );
  }
  // The strategy agent enters a market once and leaves it once, as the backtest trades its
  // signals: its buy while the account holds the symbol (or is buying it) adds nothing. Without
  // this a down-cross dropped by the confidence floor made the next up-cross double the position
  // the backtest had judged. Other doors may add to a position on purpose.
  if (d.action === "buy" && isStrategyAgentSignal(alert.source, d.idempotencyKey)) {
    // Two of its buys of one symbol in one pass (up-crosses that waited together) run side by
    // side: neither would see the other's order yet. The first goes on; the others wait for the
    // next pass, which sees what the first did.
    if (!takeStrategyBuy(cache, `${account.id}:${exchange.id}:${d.symbol}`)) {
      await alerts.releaseAlert(db, alert.id);
      waitsInPass.set(cache, (waitsInPass.get(cache) ?? 0) + 1);
      ctx.log.info(
        "Alert {alertId} waits for the next pass: another buy of {symbol} by the strategy " +
          "agent is planned in this one",
        { alertId: alert.id, symbol: d.symbol },
      );
      return "deferred";
    }
    const o = await strategyBuyFacts(db, account.id, exchange.id, d.symbol, d.idempotencyKey);
    // (A key with orders already is the order guard's: a duplicate, or the next attempt.)
    if (!o.keyed && (Number(snap.positionQty ?? 0) > 0 || o.buying)) {
      return await refuse(
        ctx,
        alert.id,
        d.idempotencyKey,
        `${d.symbol} is already held: the strategy agent does not add to a position (nor does ` +
          "the backtest)",
        { quiet: true },
      );
    }
  }
  let refPrice: string, freeQuote: number, equityQuote: number;
  // What the exchange held of the base when the balance was read, and what the account's open
  // positions recorded of it at that moment (a sell checks the two agree: holdings.ts).
  let baseHeld: string | undefined, baseRecorded = 0;
  try {
    const [ticker, balances, heldAsBase] = await Promise.all([
      // Per account: accounts on one exchange id may still see other prices (a testnet,
      // their own API_URL).
      cached(cache, `ticker:${account.id}:${d.symbol}`, () => exchange.fetchTicker(d.symbol)),
      cached(cache, `balance:${account.id}`, () => exchange.fetchBalance()),
      // Read with the balance (the first alert of the account in the pass asks for both), so
      // the two tell of the same moment: a position opened later in the pass is in neither.
      cached(cache, `held-as-base:${account.id}`, () => positionBases(db, account.id, exchange.id)),
    ]);
    refPrice = numberToDecimal(ticker.last);
    freeQuote = Number(balances[snap.instrument.quote]?.free ?? 0);
    // The quote of one market may be the base of the account's open positions in another (BTC
    // of ETH/BTC, held by a BTC/USDT position): that part is the position's, kept for its stop
    // and its exit, not cash for a buy.
    const held = heldAsBase.get(snap.instrument.quote) ?? 0;
    if (d.action === "buy" && held > 0) {
      const total = Number(balances[snap.instrument.quote]?.total ?? 0);
      freeQuote = Math.max(0, Math.min(freeQuote, total - held));
    }
    baseHeld = balances[snap.instrument.base]?.total;
    baseRecorded = heldAsBase.get(snap.instrument.base) ?? 0;
    const baseTotal = Number(balances[snap.instrument.base]?.total ?? 0);
    equityQuote = Number(balances[snap.instrument.quote]?.total ?? 0) + baseTotal * ticker.last;
  } catch (error) {
    await alerts.releaseAlert(db, alert.id);
    const wait = pauseOf(nextStep(error));
    if (wait !== undefined) ctx.pauseEntries(wait, errorMessage(error));
    throw error;
  }
  if (d.action === "buy" && protectionsOn(config.risk)) {
    const now = clock.now();
    const reading = config.risk.maxDailyLossPct || config.risk.maxDrawdownPct
      ? await accountEquity(ctx, cache, snap.instrument.quote)
      : { equity: equityQuote, settled: true };
    const facts = await entryFacts(db, account, d.symbol, reading, now, config.risk, []);
    const verdict = entryVerdict(facts, config.risk, now);
    if (verdict) {
      await tripProtection(db, account, verdict, now);
      return await refuse(ctx, alert.id, d.idempotencyKey, verdict.reason, {
        quiet: verdict.pause !== undefined,
      });
    }
  }
  const held = Number(snap.positionQty ?? "0") > 0;
  const riskExit = alert.source === "risk";
  if (d.action === "sell" && await awaitOrdersInTheWay(ctx, alert.id, d, held, riskExit)) {
    return "deferred";
  }
  // A sell of more than the exchange holds is refused for the balance, every time: the
  // position is written down to what is held first, when that is certain (holdings.ts).
  if (d.action === "sell" && held && holdsLess(baseHeld, baseRecorded)) {
    const written = await writeDownToHoldings(
      { db, exchange, account, log: ctx.log },
      d.symbol,
    );
    if (written) snap.positionQty = written.closed ? "0" : written.held;
  }
  // The pass's balance was read once: what its earlier buys of this account spend (their cost
  // in the quote, fee included) is not free for the next. It is set aside as soon as they are
  // planned, with no wait in between, so buys planned side by side never count the same cash
  // twice. A buy that would be planned otherwise without it (refused, or smaller) waits for the
  // next pass, which reads the balance again: what they did spend (or not: refused by the
  // exchange) is in it. The first buy planned never waits, and no buy waits twice.
  const input = {
    decision: d,
    rules: snap.instrument.rules,
    quote: snap.instrument.quote,
    refPrice,
    equityQuote,
    freeQuote,
    strategy: snap.strategy,
    positionQty: snap.positionQty,
    sellingQty: snap.sellingQty,
    positionStop: snap.positionStop,
    ladderSlice: riskExit && d.qty !== undefined,
    // The entry's stop will rest on the exchange as a stop-limit, judged at its limit.
    stopLimitOffsetPct: config.risk.exchangeStops === true
      ? config.risk.stopLimitOffsetPct ?? DEFAULT_STOP_LIMIT_OFFSET_PCT
      : undefined,
  };
  const spendKey = `${account.id}:${snap.instrument.quote}`;
  const pending = spentInPass(cache, spendKey);
  const planned = planOrder({ ...input, freeQuote: freeQuote - pending });
  // Once only: a buy that waited is planned the next time with what is set aside then, so an
  // order the exchange keeps refusing (a buy of all the cash that fills above the ticker) does
  // not send every waiting buy to the exchange in turn, one pass each.
  // Nor does a buy whose signal would be too old by then (it is traded now, smaller).
  const waitedBefore = ctx.cashWaited?.delete(alert.id) ?? false;
  if (
    !waitedBefore && ctx.cashWaited && pending > 0 && d.action === "buy" &&
    smallerThan(planned, planOrder(input)) &&
    !staleEntry(
      { source: alert.source, receivedAt: alert.received_at, decision: d },
      new Date(clock.now().getTime() + limits.executionCashWaitStaleMarginMs),
      config.risk.signalMaxAgeS ?? 0,
    )
  ) {
    // (Bounded: an alert that waited and was then refused before planning leaves its id.)
    if (ctx.cashWaited.size >= limits.executionCashWaitedMax) ctx.cashWaited.clear();
    ctx.cashWaited.add(alert.id);
    await alerts.releaseAlert(db, alert.id);
    waitsInPass.set(cache, (waitsInPass.get(cache) ?? 0) + 1);
    ctx.log.info(
      "Alert {alertId} waits for the next pass: other buys of this pass may spend the cash " +
        "it needs",
      { alertId: alert.id },
    );
    return "deferred";
  }
  // (A sell spends its position's base, which no buy counts as cash: see heldAsBase above.)
  // A market buy is set aside with its margin: the next buy of the pass does not count it as
  // free cash and get refused by the exchange once the first has filled above the ticker.
  const spend = planned.ok && planned.plan.side === "buy"
    ? cashHeldBy(planned.plan, refPrice, snap.instrument.rules.taker_fee)
    : 0;
  spendInPass(cache, spendKey, spend);
  if (!planned.ok) {
    // The built-in strategy emits an exit on every downward cross, with or without a
    // position; a flat account is the normal case there, not something to alert about. A Risk
    // exit finding no position lost a race to the resting stop that closed it (its fill says so).
    const flatExit = (alert.source === "strategy" || alert.source === "risk") &&
      d.action === "sell" &&
      !(Number(snap.positionQty ?? "0") > 0);
    return await refuse(ctx, alert.id, d.idempotencyKey, planned.reason, { quiet: flatExit });
  }
  const recorded = await insertOrder(
    db,
    { id: account.id, name: account.name, exchangeId: exchange.id },
    alert.id,
    d,
    planned.plan,
    alert.decision,
    { openCap: config.risk.maxOpenPositions ?? 0 },
  );
  // Nothing is sent for an order the insert refuses: its cash is free again.
  if (!("row" in recorded)) spendInPass(cache, spendKey, -spend);
  if ("paused" in recorded) {
    const now = await activePauses(db, clock.now(), account.id);
    const reason = now[0]
      ? pauseReason(now[0])
      : "entries were paused or the account disabled meanwhile";
    return await refuse(ctx, alert.id, d.idempotencyKey, reason, { quiet: true });
  }
  if ("duplicate" in recorded) {
    // The active order of this key is the alert's own: an earlier pass's insert that committed
    // after that pass gave up on it (a bounded wait ran out). Nothing was sent for it, but only
    // the exchange can say so: the reconciler looks it up and, absent, plans the alert again.
    if (await adoptOwnOrder(db, account.id, d.idempotencyKey, alert.id)) return "unknown";
    await alerts.finishAlert(db, alert.id, "DUPLICATE", recorded.duplicate);
    return "duplicate";
  }
  if ("invalid" in recorded) {
    // A protective stop recorded after this sell was planned now holds the quantity: its
    // cancel comes first, and the exit waits for it instead of being refused.
    if (d.action === "sell" && await awaitOrdersInTheWay(ctx, alert.id, d, held, riskExit)) {
      return "deferred";
    }
    return await refuse(ctx, alert.id, d.idempotencyKey, recorded.invalid);
  }
  // What this sell counts of the buys whose cancel it asked for: a fill beyond it is told as
  // held (exit_fills.ts), one it counts is sold by it. Only a sell with buys beside it has
  // anything to record, and its bookkeeping never holds the sell up (a stop-loss among them):
  // should it fail, a message about a late fill may be wrong, the sale is not.
  if (d.action === "sell" && snap.buysSeen && Object.keys(snap.buysSeen).length > 0) {
    await recordExitSell(db, alert.id, recorded.row.id, snap.buysSeen).catch((error) =>
      ctx.log.error(
        "Alert {alertId}: what its sell counted of the buys beside it was not " +
          "recorded ({error}); the sell goes on",
        { alertId: alert.id, error: errorMessage(error) },
      )
    );
  }
  const outcome = await send(ctx, alert.id, recorded.row, planned.plan);
  // Not accepted by the exchange (it asked to wait): the alert is planned again, later.
  if (outcome === "deferred") spendInPass(cache, spendKey, -spend);
  return outcome;
}

/** What the account's open positions on the exchange hold, per base asset. */
async function positionBases(
  db: Db,
  accountId: number,
  exchangeId: string,
): Promise<Map<string, number>> {
  const rows = await db.query<{ base: string; qty: string }>(
    `select split_part(symbol, '/', 1) as base, sum(qty)::text as qty from positions
      where account_id = $1 and exchange_id = $2 and status = 'OPEN' group by 1`,
    [accountId, exchangeId],
  );
  return new Map(rows.map((r) => [r.base, Number(r.qty)]));
}

/** What the buys of a pass spend, per account and quote asset (`account:quote`). */
const spentByPass = new WeakMap<PassCache, Map<string, number>>();
/**
 * Buys of a pass that wait for the next one (the pass's other buys may spend their cash, or
 * another strategy-agent buy of their symbol is planned: strategyBuysInPass).
 */
const waitsInPass = new WeakMap<PassCache, number>();
/** The `account:exchange:symbol` of the strategy-agent buys a pass has begun to plan. */
const strategyBuysInPass = new WeakMap<PassCache, Set<string>>();

/** Whether this buy is the pass's first strategy-agent buy of `key` (and marks it taken). */
function takeStrategyBuy(cache: PassCache, key: string): boolean {
  let taken = strategyBuysInPass.get(cache);
  if (!taken) strategyBuysInPass.set(cache, taken = new Set());
  if (taken.has(key)) return false;
  taken.add(key);
  return true;
}

/** How many buys of the pass wait for the next one, the pass's other buys holding their cash. */
export const cashWaits = (cache: PassCache): number => waitsInPass.get(cache) ?? 0;

function spentInPass(cache: PassCache, key: string): number {
  return spentByPass.get(cache)?.get(key) ?? 0;
}

function spendInPass(cache: PassCache, key: string, amount: number): void {
  if (amount === 0) return;
  let spent = spentByPass.get(cache);
  if (!spent) spentByPass.set(cache, spent = new Map());
  spent.set(key, Math.max(0, (spent.get(key) ?? 0) + amount));
}

/** Whether `planned` is refused or smaller where `unhindered` is not. */
function smallerThan(planned: PlanResult, unhindered: PlanResult): boolean {
  if (!unhindered.ok) return false;
  return !planned.ok || Number(planned.plan.qty) < Number(unhindered.plan.qty);
}

/**
 * One exit at a time: a sell of a position whose protective stop rests on the exchange first
 * asks for the stop's cancel (carried out by the reconcile loop, cancels.ts) and waits, its
 * alert RECEIVED again, until the exchange's word settles the stop: cancelled, the sell then
 * sells exactly what is held; filled meanwhile, there is nothing left to sell. True while it
 * waits.
 *
 * A buy of the symbol on its way matters too. While nothing is held, a sell waits for a buy
 * whose answer is pending or lost (NEW, UNKNOWN) until the exchange's evidence settles it, so an
 * exit is never refused for a position that is about to exist. An exit of the whole position (a
 * sell without `qty`) asks for the cancel of a resting buy (OPEN, PARTIALLY_FILLED), so no entry
 * fills after its exit; it waits for that cancel only while nothing is held. With a position
 * held, its exit (a stop-loss above all) sells it at once: a buy holds the quote, not the base;
 * it then also asks for the cancel of a buy whose answer is pending or lost, and the request
 * is kept until the exchange's word has the buy ended (cancels.ts), so a cancel that fails is
 * asked again. One that fills first anyway is a position of its own, with its stop, and the
 * operator is told (order_updates.ts).
 *
 * A whole exit of the Risk agent (a stop or a target reached, an operator's exit: `riskExit`)
 * also has the resting limit sells of the position cancelled and waits for them, and for one
 * whose answer is pending or lost (a take-profit limit far above the price holds its part of
 * the position): it sells all that is held, not only what they left.
 */
async function awaitOrdersInTheWay(
  ctx: AlertContext,
  alertId: number,
  d: { symbol: string; qty?: string },
  held: boolean,
  riskExit: boolean,
): Promise<boolean> {
  const orders = await ctx.db.query<
    { id: number; client_order_id: string; cancel: boolean; wait: boolean }
  >(
    `select id, client_order_id,
            purpose = 'stop_loss' or status in ('OPEN', 'PARTIALLY_FILLED')
              or (side = 'buy' and $5::bool) as cancel,
            side = 'sell' or not $5::bool as wait
       from orders
      where account_id = $1 and exchange_id = $2 and symbol = $3
        and status in ${ACTIVE_ORDER_STATUSES_SQL}
        and (purpose = 'stop_loss'
             or (side = 'sell' and type = 'limit' and $4::bool and $6::bool)
             or (side = 'buy' and (status in ('NEW', 'UNKNOWN') and not $5::bool or $4::bool)))`,
    [ctx.account.id, ctx.exchange.id, d.symbol, d.qty === undefined, held, riskExit],
  );
  const waitFor = orders.filter((o) => o.wait);
  const cancels = orders.filter((o) => o.cancel);
  if (waitFor.length === 0 && cancels.length === 0) return false;
  const asked = await ctx.db.transaction(async (tx) => {
    let n = 0;
    for (const o of cancels) {
      // Once a cancel was sent, the reconciler's record of it is awaited, not a second cancel.
      const rows = await tx.query(
        `insert into cancel_requests (order_id, requested_by)
         select $1, $2 where not exists (select 1 from cancel_requests
                                          where order_id = $1 and status = 'DONE')
         on conflict (order_id) where status = 'PENDING' do nothing returning id`,
        [o.id, exitRequester(alertId)],
      );
      n += rows.length;
    }
    if (waitFor.length > 0) await alerts.releaseAlert(tx, alertId);
    return n;
  });
  // Sent by the next reconcile pass: run it now rather than up to a whole interval later.
  if (asked > 0) ctx.onCancelAsked?.();
  if (waitFor.length === 0) return false;
  ctx.log.info("Alert {alertId} waits for order(s) {cids} to end (cancel asked: {cancels})", {
    alertId,
    cids: waitFor.map((o) => o.client_order_id).join(", "),
    cancels: cancels.map((o) => o.client_order_id).join(", ") || "none",
  });
  return true;
}

/**
 * What the account is worth in `quote` for its protections: the quote balance and every open
 * position of that quote at its ticker (a position whose price cannot be read counts at its
 * entry, or fails the reading when `strictPrices`), so a second symbol bought or held never
 * looks like a loss or hides one. A position counts for no more of its base asset than the
 * balance snapshot holds.
 *
 * `settled` says whether the reading agrees with what the database knows of the account's
 * orders: none unanswered (NEW, UNKNOWN) and none changed in the database during the reading,
 * and every resting one still open on the exchange with the fills the database has (looked up
 * after the balances; a lookup that fails counts as not settled). Otherwise a fill the service
 * has not recorded yet may be in the balances (a stop's proceeds while its position is still
 * open, a buy's cost before its position): such a reading is never recorded.
 */
export async function accountEquity(
  ctx: Pick<AlertContext, "db" | "exchange" | "account">,
  cache: PassCache,
  quote: string,
  options: { strictPrices?: boolean } = {},
): Promise<{ equity: number; settled: boolean }> {
  const { db, exchange, account } = ctx;
  const before = await ordersFingerprint(ctx);
  // Read afresh, not from the pass's cache: an earlier alert of the pass may have traded since.
  const balances = await exchange.fetchBalance();
  const open = await db.query<{ symbol: string; qty: string; avg: string | null }>(
    // The positions on this exchange only: the balance is this exchange's.
    `select symbol, qty::text, avg_entry_price::text as avg from positions
      where account_id = $1 and exchange_id = $3 and status = 'OPEN' and qty > 0
        and split_part(symbol, '/', 2) = $2`,
    [account.id, quote, exchange.id],
  );
  let equity = Number(balances[quote]?.total ?? 0);
  for (const p of open) {
    const held = Math.min(Number(p.qty), Number(balances[p.symbol.split("/")[0]]?.total ?? 0));
    if (!(held > 0)) continue;
    const ticker = cached(
      cache,
      `ticker:${account.id}:${p.symbol}`,
      () => exchange.fetchTicker(p.symbol),
    );
    const price = ticker.then((t) => tickerPrice(t.last, p.symbol));
    const last = options.strictPrices ? await price : await price.catch(() => Number(p.avg ?? 0));
    equity += held * last;
  }
  if (!Number.isFinite(equity)) {
    throw new TemporaryError(`The equity of account ${account.name} could not be read`);
  }
  const settled = !before.unanswered && await restingAsRecorded(ctx, cache) &&
    (await ordersFingerprint(ctx)).key === before.key;
  return { equity, settled };
}

/** The account's orders as the database has them: a key that changes with any write. */
async function ordersFingerprint(ctx: Pick<AlertContext, "db" | "account">) {
  const [o] = await ctx.db.query<{ key: string; unanswered: boolean }>(
    `select concat_ws(':', count(*), max(id), max(updated_at)) as key,
            coalesce(bool_or(status in ('NEW', 'UNKNOWN')), false) as unanswered
       from orders where account_id = $1`,
    [ctx.account.id],
  );
  return o;
}

/**
 * Whether every resting order of the account is open on the exchange with the fills the
 * database has (one open-orders call per symbol, once per pass); false when a call fails.
 */
async function restingAsRecorded(
  ctx: Pick<AlertContext, "db" | "exchange" | "account">,
  cache: PassCache,
) {
  const rows = await ctx.db.query<{ cid: string; symbol: string; filled: string }>(
    `select client_order_id as cid, symbol, filled_qty::text as filled from orders
      where account_id = $1 and status in ('OPEN', 'PARTIALLY_FILLED')`,
    [ctx.account.id],
  );
  for (const symbol of new Set(rows.map((r) => r.symbol))) {
    let listed: ExchangeOrder[];
    try {
      listed = await cached(
        cache,
        `open-orders:${ctx.account.id}:${symbol}`,
        () => ctx.exchange.fetchOpenOrders(symbol),
      );
    } catch {
      return false;
    }
    const onExchange = new Map(listed.map((o) => [o.clientOrderId, o]));
    for (const r of rows.filter((r) => r.symbol === symbol)) {
      const o = onExchange.get(r.cid);
      if (!o || Math.abs(Number(o.filled) - Number(r.filled)) > 1e-12) return false;
    }
  }
  return true;
}

/** A ticker's last price, or a TemporaryError when it has none usable. */
function tickerPrice(last: number, symbol: string): number {
  if (Number.isFinite(last) && last > 0) return last;
  throw new TemporaryError(`No usable last price for ${symbol} (${last})`);
}

/**
 * Consecutive failures per alert of errors that waiting does not cure (a bug, bad data);
 * temporary conditions (network, rate limits, maintenance, database) never count.
 */
export function createFailureCounter() {
  const failuresByAlert = new Map<number, number>();
  return {
    count(alertId: number, error: unknown): number {
      if (!countsAsFailure(nextStep(error))) return 0;
      const n = (failuresByAlert.get(alertId) ?? 0) + 1;
      // Bounded: a map entry per alert that failed, cleared when it is set aside.
      if (failuresByAlert.size >= limits.executionBatchSize * 100) failuresByAlert.clear();
      failuresByAlert.set(alertId, n);
      return n;
    },
    forget(alertId: number): void {
      failuresByAlert.delete(alertId);
    },
  };
}

/** Sets the alert aside (FAILED, WARN); false when it was not PROCESSING any more. */
export async function setAside(
  ctx: AlertContext,
  alertId: number,
  failures: number,
  error: unknown,
): Promise<boolean> {
  const reason = `Not executed after ${failures} failed attempts: ${errorMessage(error)}`;
  const changed = await ctx.db.transaction(async (tx) => {
    if (!await alerts.failUnlessSent(tx, alertId, reason)) return false;
    await enqueueNotification(tx, {
      severity: "WARN",
      kind: NotificationKind.decisionFailed,
      text: `${accountTag(ctx.account)}Signal (alert ${alertId}) was not traded: ${
        redactText(reason)
      }; send it again once the cause is fixed`,
      dedupeKey: `alert:${alertId}:failed`,
      accountId: ctx.account.id,
    });
    return true;
  });
  if (changed) ctx.log.error("Alert {alertId} set aside: {reason}", { alertId, reason });
  return changed;
}

/**
 * After processing an alert threw: the same alert failing again and again for a reason that
 * waiting will not fix is set aside (FAILED, WARN: "rejected") instead of holding every other
 * alert behind the backoff; otherwise it goes back to RECEIVED for the next pass
 * ("deferred"). An order refused before reaching the book (429, maintenance: REJECTED,
 * nothing filled) does not count as sent.
 */
export async function afterFailure(
  ctx: AlertContext,
  failures: ReturnType<typeof createFailureCounter>,
  alertId: number,
  error: unknown,
): Promise<"rejected" | "deferred"> {
  const n = failures.count(alertId, error);
  if (
    n >= limits.executionAlertMaxFailures &&
    await setAside(ctx, alertId, n, error).catch(() => false)
  ) {
    failures.forget(alertId);
    return "rejected";
  }
  await alerts.releaseUnlessSent(ctx.db, alertId).catch(() => {});
  ctx.log.warn("Alert {alertId} deferred: {error}", { alertId, error: errorMessage(error) });
  return "deferred";
}
