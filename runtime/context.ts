/**
 * What every part of the running service is given: dependencies are passed in, never imported
 * as singletons, which is what makes each agent testable on its own.
 */
import type { Config } from "../core/config.ts";
import type { Clock } from "../core/clock.ts";
import type { Log } from "../core/log.ts";
import type { Db } from "../db/mod.ts";
import type { Exchange } from "../exchange/mod.ts";

export interface ServiceContext {
  config: Config;
  db: Db;
  clock: Clock;
  log: Log;
  /** Aborted when the service is asked to stop. */
  signal: AbortSignal;
  /** Hands work between parts in memory; the database holds the truth (see queues.ts). */
  queues: Queues;
  /**
   * The configured exchange (live or sandbox through ccxt, or the paper broker), opened on
   * first use and shared by every part: one client, one set of loaded markets.
   */
  exchange: SharedExchange;
  /**
   * Public market data (tickers, candles) of a market: the shared exchange for its own, a
   * client without keys (opened once) for another an account trades on.
   */
  marketData: (market: MarketSource) => Promise<Exchange>;
}

/** Where an account's prices come from: an exchange, its testnet or not, a REST base. */
export interface MarketSource {
  exchangeId: string;
  sandbox: boolean;
  apiUrl?: string;
}

/** Builds a part of the service; `undefined` when the part has nothing to do. */
export type ComponentFactory = (ctx: ServiceContext) => Promise<Component | undefined>;

export interface SharedExchange {
  /** Opens the exchange once; a failed open is tried again on the next call. */
  get(): Promise<Exchange>;
  /** Closes it if it was opened. */
  close(): Promise<void>;
}

export function sharedExchange(open: () => Promise<Exchange>): SharedExchange {
  let opening: Promise<Exchange> | undefined;
  return {
    get() {
      opening ??= open().catch((error) => {
        opening = undefined;
        throw error;
      });
      return opening;
    },
    async close() {
      const ex = await opening?.catch(() => undefined);
      opening = undefined;
      await ex?.close?.();
    },
  };
}

/**
 * In-memory wake-ups between agents, backed by database state: a part that finds nothing in
 * its queue still scans the database at start and on its polling interval, so a restart or a
 * lost wake-up never loses work.
 */
export interface Queues {
  /** Inbound alerts stored as RECEIVED and ready for execution. */
  decisions: WorkQueue<number>;
}

export interface WorkQueue<T> {
  push(item: T): void;
  /** Takes everything queued so far. */
  drain(): T[];
  /** Registers the consumer's wake-up (one consumer per queue). */
  onPush(fn: () => void): void;
  readonly size: number;
}

export function workQueue<T>(maxItems = 10_000): WorkQueue<T> {
  let items: T[] = [];
  let listener: (() => void) | undefined;
  return {
    push(item) {
      // Beyond the bound the item is dropped from memory only: the database scan picks it up.
      if (items.length < maxItems) items.push(item);
      listener?.();
    },
    drain() {
      const out = items;
      items = [];
      return out;
    },
    onPush(fn) {
      listener = fn;
    },
    get size() {
      return items.length;
    },
  };
}

/** An HTTP route served by `serve`. The handler never throws: it answers. */
export interface Route {
  method: "GET" | "POST";
  /** A URLPattern pathname, e.g. "/reports/:id". */
  path: string;
  handler: (
    req: Request,
    info: { remoteAddr: string; params: Record<string, string | undefined> },
  ) => Promise<Response>;
}

/** A part of `serve`: started in order after migrations, stopped in reverse order. */
export interface Component {
  name: string;
  /** Routes this part serves (mounted before the server starts listening). */
  routes?: Route[];
  /** Starts background work; resolves once it is running. */
  start?(): Promise<void>;
  /** Finishes in-flight work and stops; must resolve even if start() failed. */
  stop?(): Promise<void>;
  /** One line for the start-up log: what runs and what is off, and why. */
  describe?(): string;
}
