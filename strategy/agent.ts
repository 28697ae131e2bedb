/**
 * Strategy agent: reads closed candles from `candles`, feeds them once each to the per-symbol
 * runner, and hands every signal that passes the plan check to the sink as a
 * `TradingDecision`. Indicator state is rebuilt from `candles` at start; a key already emitted
 * in this process is suppressed before the sink, and the sink's store suppresses it across
 * restarts.
 *
 * A candle counts as closed once our clock says its period is over and a later candle of the
 * series is stored. The ingestion stores the exchange's forming candle on every run and
 * completes it on the next one, which then stores its successor in the same write; until then
 * (that fetch failed, or our clock runs ahead of the exchange's) the stored row holds a close
 * the candle never had, and a candle once fed is never fed again.
 *
 * Nothing is traded before the indicators have settled (`settleCandles`): the window kept is
 * sized so that a restart rebuilds them from that many candles, computing what an
 * uninterrupted run and the backtest compute.
 */
import type { Clock } from "../core/clock.ts";
import type { TradingDecision } from "../trading/decision.ts";
import { errorMessage } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import type { Sql } from "../db/mod.ts";
import {
  candlesBetween,
  lastCandleTs,
  latestCandles,
  type Series,
  timeframeMs,
} from "./candles.ts";
import { recentKeys, toDecision } from "./decision.ts";
import { settleCandles } from "./indicators.ts";
import type { StrategyParams } from "./rule.ts";
import { createRunner, type StrategyRunner } from "./runner.ts";

export type DecisionSink = (decision: TradingDecision) => Promise<void>;

export interface StrategyAgentDeps {
  db: Sql;
  clock: Clock;
  log: Log;
  exchangeId: string;
  timeframe: string;
  symbols: string[];
  params: StrategyParams;
  sink: DecisionSink;
}

/**
 * Candles to keep per symbol and to rebuild from: the usual window, or more when the
 * strategy's periods need more to settle (plus the candles still fresh enough to trade).
 */
export function candleWindowFor(params: StrategyParams): number {
  return Math.max(limits.candleWindow, settleCandles(params) + limits.strategySignalMaxAgeCandles);
}

export interface StrategyAgent {
  /** Rebuilds indicator state from the stored candles without emitting anything. */
  start(): Promise<void>;
  /** Feeds every newly closed candle; returns the decisions handed to the sink. */
  runOnce(): Promise<TradingDecision[]>;
}

// Longer than ~80 lines: one closure over the runners of each symbol; its methods are short.
export function createStrategyAgent(deps: StrategyAgentDeps): StrategyAgent {
  const { db, clock, log, params } = deps;
  const tfMs = timeframeMs(deps.timeframe);
  const runners = new Map<string, StrategyRunner>();
  const emitted = recentKeys(limits.strategyKeysMax);
  const series = (symbol: string): Series => ({
    exchangeId: deps.exchangeId,
    symbol,
    timeframe: deps.timeframe,
  });
  // The open time of the candle our clock calls forming.
  const formingMs = () => Math.floor(clock.now().getTime() / tfMs) * tfMs;
  const maxAgeMs = limits.strategySignalMaxAgeCandles * tfMs;
  const settle = settleCandles(params);
  const historyCandles = candleWindowFor(params);
  /** Symbols whose candles run ahead of our clock (warned once until they agree again). */
  const clockBehind = new Set<string>();

  /**
   * Candles before `closedBeforeMs` are closed by both clocks: ours and the exchange's (the
   * newest stored candle is the one it forms). Before `staleBeforeMs` they are too old to trade
   * by either: a clock behind the exchange never makes an old candle fresh.
   */
  async function bounds(symbol: string) {
    const ourMs = formingMs();
    const newestMs = await lastCandleTs(db, series(symbol)) ?? ourMs;
    // Then even the last candle our clock calls closed is too old on the exchange's.
    const behind = newestMs - maxAgeMs > ourMs - tfMs;
    if (!behind) clockBehind.delete(symbol);
    else if (!clockBehind.has(symbol)) {
      clockBehind.add(symbol);
      log.warn(
        "The exchange's {symbol} candles reach {newest} while our clock says {now}: the " +
          "clock is behind, so its signals are too old to trade; sync the clock (NTP)",
        {
          symbol,
          newest: new Date(newestMs).toISOString(),
          now: clock.now().toISOString(),
        },
      );
    }
    return {
      closedBeforeMs: Math.min(ourMs, newestMs),
      staleBeforeMs: Math.max(ourMs, newestMs) - maxAgeMs,
    };
  }

  /** Symbols whose sink failed: the candle time to resume from (it is emitted again). */
  const resumeAt = new Map<string, number>();

  // A rebuild (at start, or after a failed run) stops short of the candles still fresh enough to
  // trade, so that the next run looks at them again: a cross that closed just before a restart
  // or an error is not lost. A decision handed over before is a duplicate for the intake.
  async function rebuild(symbol: string, beforeMs?: number): Promise<StrategyRunner> {
    beforeMs ??= (await bounds(symbol)).closedBeforeMs - maxAgeMs;
    const runner = createRunner(params);
    const history = await latestCandles(db, series(symbol), beforeMs, historyCandles);
    for (const c of history) runner.onCandle(c);
    log.info("Rebuilt {strategy} state for {symbol} from {n} candle(s){more}", {
      strategy: params.name,
      symbol,
      n: history.length,
      more: history.length >= settle
        ? ""
        : `; no trade before ${settle} have been fed (the indicators' warm-up)`,
    });
    runners.set(symbol, runner);
    return runner;
  }

  async function step(symbol: string): Promise<TradingDecision[]> {
    const runner = runners.get(symbol) ?? await rebuild(symbol, resumeAt.get(symbol));
    resumeAt.delete(symbol);
    const fromMs = runner.lastTs === undefined ? 0 : runner.lastTs + 1;
    const { closedBeforeMs, staleBeforeMs } = await bounds(symbol);
    const fresh = await candlesBetween(
      db,
      series(symbol),
      fromMs,
      closedBeforeMs,
      limits.candleWindow,
    );
    const out: TradingDecision[] = [];
    for (const candle of fresh) {
      const outcome = runner.onCandle(candle);
      if (outcome.kind !== "none" && candle.ts < staleBeforeMs) {
        log.debug("Ignored a signal on the stale candle {ts} of {symbol}", {
          ts: new Date(candle.ts).toISOString(),
          symbol,
        });
        continue;
      }
      if (outcome.kind !== "none" && runner.count < settle) {
        log.info(
          "Ignored a signal of {strategy} on {symbol} at {ts}: warming up, {n} of {settle} candles",
          {
            strategy: params.name,
            symbol,
            ts: new Date(candle.ts).toISOString(),
            n: runner.count,
            settle,
          },
        );
        continue;
      }
      if (outcome.kind === "dropped") {
        log.info("Dropped {action} signal of {strategy} on {symbol} at {ts}: {reason}", {
          action: outcome.action,
          strategy: params.name,
          symbol,
          ts: new Date(candle.ts).toISOString(),
          reason: outcome.reason,
        });
        continue;
      }
      if (outcome.kind !== "signal") continue;
      const decision = toDecision(params.name, symbol, outcome.signal);
      if (!emitted.offer(decision.idempotencyKey)) {
        log.debug("Suppressed repeated decision {key}", { key: decision.idempotencyKey });
        continue;
      }
      try {
        await deps.sink(decision);
      } catch (error) {
        // Not handed over: forget the key and resume from this candle so the next run retries.
        emitted.forget(decision.idempotencyKey);
        runners.delete(symbol);
        resumeAt.set(symbol, candle.ts);
        throw error;
      }
      log.info("Decision {key}: {action} {symbol} stop {sl} target {tp} confidence {confidence}", {
        key: decision.idempotencyKey,
        action: decision.action,
        symbol,
        sl: decision.sl,
        tp: decision.tp,
        confidence: decision.confidence,
      });
      out.push(decision);
    }
    return out;
  }

  return {
    async start() {
      for (const symbol of deps.symbols) await rebuild(symbol);
    },
    async runOnce() {
      const all: TradingDecision[] = [];
      for (const symbol of deps.symbols) {
        try {
          all.push(...await step(symbol));
        } catch (error) {
          // The runner may have consumed part of the batch; rebuild it from the table next time.
          runners.delete(symbol);
          log.error("Strategy {strategy} failed on {symbol}: {error}", {
            strategy: params.name,
            symbol,
            error: errorMessage(error),
          });
        }
      }
      return all;
    },
  };
}
