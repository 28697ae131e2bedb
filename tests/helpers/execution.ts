/**
 * Wiring for execution tests: the real ccxt client pointed at the fake Binance, the markets
 * synced into a test database, an operator chat so notifications land in the outbox, and an
 * Execution agent with reconciliation thresholds at zero (tests decide when time has passed).
 */
import { systemClock } from "../../core/clock.ts";
import { logger } from "../../core/log.ts";
import type { TradingDecision } from "../../trading/decision.ts";
import type { Db } from "../../db/db.ts";
import { createCcxtExchange } from "../../exchange/ccxt.ts";
import { syncMarkets } from "../../execution/markets.ts";
import { createPaperExchange } from "../../execution/paper_broker.ts";
import type { Exchange } from "../../exchange/port.ts";
import { createExecutionAgent, type ExecutionDeps } from "../../execution/agent.ts";
import {
  type FakeExchange,
  type FakeExchangeOptions,
  startFakeExchange,
} from "../fakes/exchange.ts";
import { testDb } from "./db.ts";

/**
 * Stops on the exchange are off here: these tests are about the orders a signal makes, and the
 * protective stop each live entry would add is tested on its own (protective_test.ts, with
 * `protectedConfig`).
 */
export const testConfig = {
  risk: { perTradePct: 1, exchangeStops: false },
  strategy: { stopPct: 2 },
} as Parameters<typeof createExecutionAgent>[0]["config"];

export const protectedConfig = {
  ...testConfig,
  risk: { ...testConfig.risk, exchangeStops: true },
} as typeof testConfig;

export function liveExchange(fake: FakeExchange, timeoutMs = 2_000): Promise<Exchange> {
  return createCcxtExchange({
    id: "binance",
    mode: "live",
    apiKey: "test-api-key-0000",
    apiSecret: "test-api-secret-0000",
    apiUrl: fake.url,
    timeoutMs,
    throttle: false,
  });
}

export async function paperExchange(
  db: Db,
  fake: FakeExchange,
  initialBalanceQuote = 10_000,
): Promise<Exchange> {
  const market = await createCcxtExchange({
    id: "binance",
    mode: "paper",
    apiUrl: fake.url,
    timeoutMs: 2_000,
    throttle: false,
  });
  return createPaperExchange({ db, market, initialBalanceQuote });
}

export async function executionSetup(
  db: Db,
  exchange: Exchange,
  tuning: ExecutionDeps["tuning"] = {},
  config: ExecutionDeps["config"] = testConfig,
) {
  await syncMarkets(db, exchange);
  await db.query(
    "insert into telegram_chats (chat_id, min_severity) values (42, 'INFO') on conflict do nothing",
  );
  return createExecutionAgent({
    db,
    exchange,
    clock: systemClock,
    log: logger("test"),
    config,
    tuning: { minAgeMs: 0, notFoundMinAgeMs: 0, ...tuning },
  });
}

let seq = 0;
/** Stores a RECEIVED alert as the signal sources do; returns its id. */
export async function insertAlert(
  db: Db,
  d: Partial<TradingDecision> = {},
  source: "strategy" | "pine" | "csv" = "strategy",
): Promise<number> {
  const decision: TradingDecision = {
    symbol: "BTC/USDT",
    action: "buy",
    strategy: "manual",
    idempotencyKey: `key-${++seq}-${crypto.randomUUID().slice(0, 8)}`,
    ...d,
  };
  const [row] = await db.query<{ id: number }>(
    `insert into inbound_alerts (source, idempotency_key, raw_body, payload, decision)
     values ($4, $1, $2, $3, $3) returning id`,
    [decision.idempotencyKey, JSON.stringify(decision), JSON.stringify(decision), source],
  );
  return row.id;
}

export const count = async (db: Db, sql: string, params: unknown[] = []) =>
  (await db.query<{ n: number }>(`select count(*)::int as n from (${sql}) q`, params))[0].n;

/** A test database, the fake exchange, the ccxt client and an agent; all closed after `fn`. */
export async function withLive(
  fn: (
    ctx: {
      db: Db;
      fake: FakeExchange;
      agent: Awaited<ReturnType<typeof executionSetup>>;
      exchange: Exchange;
    },
  ) => Promise<void>,
  timeoutMs?: number,
  config: ExecutionDeps["config"] = testConfig,
  fakeOptions?: FakeExchangeOptions,
) {
  const t = await testDb();
  const fake = startFakeExchange(fakeOptions);
  const exchange = await liveExchange(fake, timeoutMs);
  try {
    const agent = await executionSetup(t.db, exchange, {}, config);
    await fn({ db: t.db, fake, agent, exchange });
  } finally {
    await exchange.close?.();
    await fake.close();
    await t.close();
  }
}

export const alertOf = async (db: Db, id: number) =>
  (await db.query<{ status: string; error: string | null }>(
    "select status, error from inbound_alerts where id = $1",
    [id],
  ))[0];
