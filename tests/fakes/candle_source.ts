/**
 * An in-memory market-data side of the Exchange port for agent tests: candles derived from
 * their open time (so any range can be asked for), a forming candle whose close changes on
 * every call, scripted failures, and a log of the calls made.
 */
import type { Clock } from "../../core/clock.ts";
import type { Candle, Exchange } from "../../exchange/port.ts";

export interface CandleSource extends Pick<Exchange, "id" | "fetchOHLCV" | "close"> {
  calls: { symbol: string; since?: number; limit?: number }[];
  /** Errors thrown by the next calls, in order. */
  failNext(...errors: Error[]): void;
  /** Candles returned as they are by the next call (malformed data tests). */
  serveNext(candles: Candle[]): void;
}

export const TF_MS = 60_000;

/** A deterministic closed candle for any open time: a slow wave, so EMAs cross now and then. */
export function candleAt(ts: number, bump = 0): Candle {
  const i = ts / TF_MS;
  const close = 100 + 10 * Math.sin(i / 15) + (i % 7) * 0.1 + bump;
  const open = 100 + 10 * Math.sin((i - 1) / 15) + ((i - 1) % 7) * 0.1;
  return {
    ts,
    open,
    high: Math.max(open, close) + 0.5,
    low: Math.min(open, close) - 0.5,
    close,
    volume: 1 + (i % 5),
  };
}

export function candleSource(clock: Clock, id = "binance"): CandleSource {
  const failures: Error[] = [];
  let canned: Candle[] | undefined;
  let version = 0;
  const calls: CandleSource["calls"] = [];
  return {
    id,
    calls,
    failNext: (...errors) => void failures.push(...errors),
    serveNext: (candles) => void (canned = candles),
    fetchOHLCV(symbol, _timeframe, since, limit = 500) {
      calls.push({ symbol, since, limit });
      const error = failures.shift();
      if (error) return Promise.reject(error);
      if (canned) {
        const out = canned;
        canned = undefined;
        return Promise.resolve(out);
      }
      const formingTs = Math.floor(clock.now().getTime() / TF_MS) * TF_MS;
      const start = Math.ceil((since ?? formingTs - (limit - 1) * TF_MS) / TF_MS) * TF_MS;
      const out: Candle[] = [];
      for (let ts = start; ts <= formingTs && out.length < limit; ts += TF_MS) {
        // The forming candle moves between calls, like a live one.
        out.push(ts === formingTs ? candleAt(ts, ++version * 0.01) : candleAt(ts));
      }
      return Promise.resolve(out);
    },
    close: () => Promise.resolve(),
  };
}
