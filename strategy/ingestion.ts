/**
 * Ingestion agent: the latest candles of each symbol, upserted into `candles`, with only a
 * bounded recent window kept. Each run restarts from the newest stored candle, so a candle
 * stored while still forming is completed and a gap left by an outage is filled (up to a few
 * pages per run; a longer gap is skipped to the recent window). Temporary failures are retried
 * with exponential backoff and jitter; repeated failed runs warn the operator once per outage.
 */
import type { Clock } from "../core/clock.ts";
import { backoffMs } from "../core/backoff.ts";
import { errorMessage, nextStep } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import type { Db } from "../db/mod.ts";
import { lastCandleTs, pruneCandles, type Series, timeframeMs, upsertCandles } from "./candles.ts";
import type { Candle, Exchange } from "../exchange/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";

export interface IngestionDeps {
  db: Db;
  exchange: Pick<Exchange, "id" | "fetchOHLCV">;
  clock: Clock;
  log: Log;
  symbols: string[];
  timeframe: string;
  /** Candles kept per symbol; limits.candleWindow by default. */
  window?: number;
  /** Candles per exchange call; limits.ingestionPageCandles by default (tests page smaller). */
  pageCandles?: number;
  /** Source of jitter in [0, 1); injected in tests. */
  random?: () => number;
  signal?: AbortSignal;
}

export interface SymbolResult {
  symbol: string;
  ok: boolean;
  /** Candles received and stored in this run. */
  stored: number;
  pruned: number;
  error?: string;
}

export interface IngestionAgent {
  /** One pass over every symbol; never throws for an exchange failure (it is in the result). */
  runOnce(): Promise<SymbolResult[]>;
}

interface FailureState {
  count: number;
  /** Time of the first failure of this outage: it makes the warning's dedupe key. */
  sinceMs: number;
  warned: boolean;
}

/** Errors that retrying a fetch does not cure. */
const permanent = (e: unknown) =>
  ["reject", "fix_credentials", "fix_config"].includes(nextStep(e).step);

const validCandle = (c: Candle) =>
  [c.ts, c.open, c.high, c.low, c.close, c.volume].every(Number.isFinite) &&
  c.low > 0 && c.high >= c.low && c.high >= Math.max(c.open, c.close) &&
  c.low <= Math.min(c.open, c.close) && c.volume >= 0;

// Longer than ~80 lines: one closure over the series state; its methods are short.
export function createIngestionAgent(deps: IngestionDeps): IngestionAgent {
  const { db, exchange, clock, log } = deps;
  const window = deps.window ?? limits.candleWindow;
  const tfMs = timeframeMs(deps.timeframe);
  const failures = new Map<string, FailureState>();

  async function fetchWithRetry(symbol: string, since: number, limit: number): Promise<Candle[]> {
    for (let attempt = 0;; attempt++) {
      try {
        return await exchange.fetchOHLCV(symbol, deps.timeframe, since, limit);
      } catch (error) {
        if (permanent(error) || attempt >= limits.ingestionRetries || deps.signal?.aborted) {
          throw error;
        }
        let waitMs = backoffMs(attempt, {
          baseMs: limits.ingestionRetryBaseMs,
          maxMs: limits.backoffMaxMs,
          random: deps.random,
        });
        const step = nextStep(error);
        if (step.step === "wait") waitMs = Math.max(waitMs, step.waitMs);
        log.debug("Fetching candles of {symbol} failed; retrying in {waitMs} ms: {error}", {
          symbol,
          waitMs,
          error: errorMessage(error),
        });
        await clock.sleep(waitMs, deps.signal);
      }
    }
  }

  async function ingest(symbol: string): Promise<SymbolResult> {
    const series: Series = { exchangeId: exchange.id, symbol, timeframe: deps.timeframe };
    const nowMs = clock.now().getTime();
    const windowStartMs = (Math.floor(nowMs / tfMs) - (window - 1)) * tfMs;
    const last = await lastCandleTs(db, series);
    let since = last === undefined ? windowStartMs : Math.max(last, windowStartMs);
    let stored = 0;
    for (let page = 0; page < limits.ingestionPagesMax; page++) {
      const limit = Math.min(deps.pageCandles ?? limits.ingestionPageCandles, window);
      const got = await fetchWithRetry(symbol, since, limit);
      const good = got.filter((c) => c.ts >= since && validCandle(c));
      if (good.length < got.length) {
        log.warn("Skipped {n} malformed candle(s) of {symbol} from the exchange", {
          n: got.length - good.length,
          symbol,
        });
      }
      await upsertCandles(db, series, good);
      stored += good.length;
      if (got.length < limit || good.length === 0) break;
      since = good[good.length - 1].ts + tfMs;
      if (since > nowMs) break;
    }
    const pruned = await pruneCandles(db, series, window);
    return { symbol, ok: true, stored, pruned };
  }

  async function noteFailure(symbol: string, error: unknown): Promise<void> {
    const nowMs = clock.now().getTime();
    const f = failures.get(symbol) ?? { count: 0, sinceMs: nowMs, warned: false };
    f.count++;
    failures.set(symbol, f);
    log.warn("Ingestion of {symbol} failed ({count} run(s) in a row): {error}", {
      symbol,
      count: f.count,
      error: errorMessage(error),
    });
    if (f.warned || f.count < limits.ingestionWarnAfterFailures) return;
    const since = new Date(f.sinceMs).toISOString();
    try {
      await enqueueNotification(db, {
        severity: "WARN",
        kind: NotificationKind.ingestionFailing,
        text: `Market data for ${symbol} on ${exchange.id} has failed ${f.count} runs in a row ` +
          `since ${since}: ${errorMessage(error)}. The strategy waits for fresh candles.`,
        dedupeKey: `ingestion-failing:${exchange.id}:${symbol}:${since}`,
      });
      f.warned = true;
    } catch (inner) {
      log.error("Could not queue the ingestion warning: {error}", { error: errorMessage(inner) });
    }
  }

  async function noteSuccess(symbol: string): Promise<void> {
    const f = failures.get(symbol);
    failures.delete(symbol);
    if (!f?.warned) return;
    const since = new Date(f.sinceMs).toISOString();
    await enqueueNotification(db, {
      severity: "INFO",
      kind: NotificationKind.ingestionRecovered,
      text:
        `Market data for ${symbol} on ${exchange.id} is flowing again (failing since ${since}).`,
      dedupeKey: `ingestion-recovered:${exchange.id}:${symbol}:${since}`,
    }).catch((e) =>
      log.error("Could not queue a notification: {error}", { error: errorMessage(e) })
    );
  }

  return {
    async runOnce() {
      const results: SymbolResult[] = [];
      for (const symbol of deps.symbols) {
        if (deps.signal?.aborted) break;
        try {
          const r = await ingest(symbol);
          await noteSuccess(symbol);
          results.push(r);
        } catch (error) {
          await noteFailure(symbol, error);
          results.push({ symbol, ok: false, stored: 0, pruned: 0, error: errorMessage(error) });
        }
      }
      return results;
    },
  };
}
