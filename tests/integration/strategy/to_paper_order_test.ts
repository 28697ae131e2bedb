/**
 * Market data to a paper order, with every real part in the path: the ccxt adapter reads the
 * fake Binance's klines into `candles` (ingestion agent), the strategy agent turns an EMA cross
 * into a decision with a stop, the shared intake stores it RECEIVED (source 'strategy'), and the
 * Execution agent in paper mode (paper broker over the fake's public ticker) fills it once, with
 * the position and the ledger legs in the 'paper' account. A restart that re-runs the same
 * candles over the same database places nothing more.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { count } from "../../helpers/execution.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { klinesView } from "../../fakes/exchange_views.ts";
import { workQueue } from "../../../runtime/context.ts";
import { fakeClock } from "../../../core/clock.ts";
import { type Config, loadConfig } from "../../../core/config.ts";
import type { TradingDecision } from "../../../trading/decision.ts";
import { logger } from "../../../core/log.ts";
import type { Db } from "../../../db/db.ts";
import { createCcxtExchange } from "../../../exchange/ccxt.ts";
import { syncMarkets } from "../../../execution/markets.ts";
import { createPaperExchange } from "../../../execution/paper_broker.ts";
import type { Exchange } from "../../../exchange/port.ts";
import { createIngestionAgent } from "../../../strategy/ingestion.ts";
import { createStrategyAgent } from "../../../strategy/agent.ts";
import { loadStrategy } from "../../../strategy/params.ts";
import { storeDecisionSink } from "../../../strategy/store_sink.ts";
import { createExecutionAgent } from "../../../execution/agent.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const MINUTE_MS = 60_000;
/** Half a minute past 12:00: the fake's ±1 % wave crosses up (EMA 3/8) on the 12:14 candle. */
const T0 = Date.UTC(2026, 0, 1, 12, 0, 30);
const CROSS_TS = Date.UTC(2026, 0, 1, 12, 14);
const KEY = "strategy:wave:BTC/USDT:2026-01-01T12:14:00.000Z:buy";

/** The agents of one process over the shared database; `close` ends its exchange clients. */
async function startAgents(db: Db, config: Config, clock: ReturnType<typeof fakeClock>) {
  const log = logger("test");
  // As `serve` wires them: candles through a keyless client, orders through the paper broker
  // over another keyless client of the same exchange.
  const settings = { ...config.exchange, apiKey: undefined, apiSecret: undefined, throttle: false };
  const marketData = await createCcxtExchange(settings);
  const paper: Exchange = createPaperExchange({
    db,
    market: await createCcxtExchange(settings),
    initialBalanceQuote: config.exchange.paperBalanceQuote,
    depositAsset: "USDT",
    now: () => clock.now().getTime(),
  });
  const resolved = await loadStrategy(db, config);
  const woken = workQueue<number>();
  const ingestion = createIngestionAgent({
    db,
    exchange: marketData,
    clock,
    log,
    symbols: resolved.symbols,
    timeframe: config.timeframe,
    window: 300,
    random: () => 0.5,
  });
  const strategy = createStrategyAgent({
    db,
    clock,
    log,
    exchangeId: marketData.id,
    timeframe: config.timeframe,
    symbols: resolved.symbols,
    params: resolved.params,
    sink: storeDecisionSink(db, {
      log,
      onStored: (id) => woken.push(id),
      now: () => clock.now(),
    }),
  });
  await syncMarkets(db, paper);
  const execution = createExecutionAgent({ db, exchange: paper, clock, log, config });
  return {
    ingestion,
    strategy,
    execution,
    woken,
    async close() {
      await marketData.close?.();
      await paper.close?.();
    },
  };
}

/** Everything the trade left behind, for comparing before and after the restart. */
const snapshot = async (db: Db) => ({
  alerts: await db.query<{ status: string; idempotency_key: string }>(
    "select id, source, status, idempotency_key from inbound_alerts order by id",
  ),
  keys: await db.query("select idempotency_key, alert_id from inbound_dedupe_keys"),
  orders: await db.query(
    "select id, status, qty::text, filled_qty::text, client_order_id from orders order by id",
  ),
  positions: await db.query("select status, qty::text, avg_entry_price::text from positions"),
  legs: await db.query(
    "select account, asset, amount::text, kind from transactions order by id",
  ),
});

Deno.test({
  name: "an EMA cross in ingested candles becomes exactly one paper order, and a restart adds none",
  // ccxt keeps keep-alive sockets and timers of its own; every client is closed below.
  ...serviceTest,
  async fn(ctx) {
    const t = await testDb();
    const clock = fakeClock(new Date(T0));
    const fake = startFakeExchange({ now: () => clock.now().getTime() });
    const { db } = t;
    const config = loadConfig({
      EXCHANGE_ID: "binance",
      EXCHANGE_MODE: "paper",
      EXCHANGE_API_URL: fake.url,
      EXCHANGE_TIMEOUT_MS: "2000",
      STRATEGY_NAME: "wave",
      SYMBOLS: "BTC/USDT",
      TIMEFRAME: "1m",
      PAPER_BALANCE: "10000",
    });
    // Small EMAs so the fake's hour-long wave crosses, and an RSI band wide enough that the
    // cross is not filtered; the confidence floor stays at the usual 0.5.
    await db.query(
      `insert into strategies (name, symbols, risk_pct, stop_pct, take_profit_pct, confidence_min,
                               params)
       values ('wave', '{BTC/USDT}', 1, 2, 4, 0.5, $1)`,
      [JSON.stringify({
        ema_fast: 3,
        ema_slow: 8,
        rsi_period: 5,
        rsi_overbought: 90,
        rsi_oversold: 10,
      })],
    );
    let agents = await startAgents(db, config, clock);
    let decision: TradingDecision | undefined;
    let alertId = 0;
    try {
      await ctx.step("ingestion stores the exchange's klines in candles", async () => {
        await agents.strategy.start();
        const [r] = await agents.ingestion.runOnce();
        assert.equal(r.ok, true, r.error);
        assert.equal(r.stored, 300);
        const last = T0 - T0 % MINUTE_MS - MINUTE_MS;
        const [row] = await db.query<{ close: string }>(
          `select close::text from candles
            where exchange_id = 'binance' and symbol = 'BTC/USDT' and timeframe = '1m'
              and ts = $1`,
          [new Date(last)],
        );
        const served = klinesView(
          fake.markets.get("BTCUSDT")!,
          new URLSearchParams({ interval: "1m", startTime: String(last), limit: "1" }),
          clock.now().getTime(),
        )!;
        assert.equal(Number(row.close), Number(served[0][4]));
        // The last cross is more than two candles old: it only warms the indicators.
        assert.deepEqual(await agents.strategy.runOnce(), []);
        assert.equal(await count(db, "select 1 from inbound_alerts"), 0);
      });

      await ctx.step("minute ticks until the cross give one buy decision with a stop", async () => {
        for (let tick = 0; tick < 70 && !decision; tick++) {
          clock.advance(MINUTE_MS);
          const [r] = await agents.ingestion.runOnce();
          assert.equal(r.ok, true, r.error);
          [decision] = await agents.strategy.runOnce();
        }
        assert.ok(decision, "the wave should cross within one period");
        assert.equal(clock.now().getTime(), CROSS_TS + MINUTE_MS + 30_000);
        assert.equal(decision.idempotencyKey, KEY);
        assert.equal(decision.action, "buy");
        assert.equal(decision.strategy, "wave");
        assert.ok(decision.confidence! >= 0.5, `confidence ${decision.confidence}`);
        const [{ close }] = await db.query<{ close: string }>(
          "select close::float8 as close from candles where symbol = 'BTC/USDT' and ts = $1",
          [new Date(CROSS_TS)],
        );
        // Stop 2 % below and target 4 % above the close of the crossing candle.
        assert.ok(Math.abs(Number(decision.sl) / Number(close) - 0.98) < 1e-8, decision.sl);
        assert.ok(Math.abs(Number(decision.tp) / Number(close) - 1.04) < 1e-8, decision.tp);

        const alerts = await db.query<
          { id: number; status: string; decision: TradingDecision; received_at: Date }
        >(
          "select id, status, decision, received_at from inbound_alerts where source = 'strategy'",
        );
        assert.equal(alerts.length, 1);
        assert.equal(alerts[0].status, "RECEIVED");
        // Received on the agents' clock: execution's SIGNAL_MAX_AGE_S counts from it.
        assert.equal(new Date(alerts[0].received_at).getTime(), clock.now().getTime());
        assert.deepEqual(alerts[0].decision, decision);
        alertId = alerts[0].id;
        assert.equal(
          await count(db, "select 1 from inbound_dedupe_keys where idempotency_key = $1", [KEY]),
          1,
        );
        assert.deepEqual(agents.woken.drain(), [alertId]);
      });

      await ctx.step("paper execution fills it once, with position and paper ledger", async () => {
        const summary = await agents.execution.runOnce();
        assert.equal(summary.claimed, 1);
        assert.equal(summary.executed, 1, JSON.stringify(summary));
        const orders = await db.query<{
          status: string;
          side: string;
          qty: string;
          filled_qty: string;
          alert_id: number;
          idempotency_key: string;
          avg_fill_price: string;
          fee: string;
        }>(
          `select status, side, qty::text, filled_qty::text, alert_id, idempotency_key,
                  avg_fill_price::text, fee::text from orders where purpose <> 'stop_loss'`,
        );
        assert.equal(orders.length, 1);
        const o = orders[0];
        assert.deepEqual(
          [o.status, o.side, o.alert_id, o.idempotency_key, o.filled_qty],
          ["FILLED", "buy", alertId, KEY, o.qty],
        );
        // Filled at the ticker (the fake's 50,000), sized to risk 1 % of the 10,000 deposit
        // between that price and the decision's stop, truncated to the 0.00001 step.
        assert.equal(Number(o.avg_fill_price), 50_000);
        const qty = Number(o.qty);
        const risk = qty * (50_000 - Number(decision!.sl));
        assert.ok(risk <= 100 && risk > 100 - 0.00001 * 50_000, `risk ${risk}`);
        assert.equal(fake.requests["POST order"], undefined, "paper orders never reach the API");

        const [pos] = await db.query<{ status: string; qty: string; stop_price: string }>(
          "select status, qty::text, stop_price::text from positions where symbol = 'BTC/USDT'",
        );
        assert.equal(pos.status, "OPEN");
        assert.equal(Number(pos.qty), qty);
        // The position's stop rests in the paper broker as a live one rests on the exchange.
        const stops = await db.query<{ status: string; qty: string; stop_price: string }>(
          `select status, qty::text, stop_price::text from orders
            where purpose = 'stop_loss' and side = 'sell' and type = 'stop_limit'`,
        );
        assert.deepEqual(
          stops.map((s) => [s.status, Number(s.qty), Number(s.stop_price)]),
          [["OPEN", qty, Number(pos.stop_price)]],
        );

        const legs = await db.query<{ account: string; asset: string; sum: string }>(
          `select account, asset, sum(amount)::text as sum from transactions
            group by account, asset order by account, asset`,
        );
        const notional = qty * 50_000;
        assert.deepEqual(legs.map((l) => [l.account, l.asset]), [
          ["paper", "BTC"],
          ["paper", "USDT"],
        ]);
        assert.equal(Number(legs[0].sum), qty);
        assert.ok(Math.abs(Number(legs[1].sum) - (10_000 - notional - Number(o.fee))) < 1e-8);
        assert.equal(
          await count(db, "select 1 from transactions where kind in ('trade', 'fee')"),
          Number(o.fee) > 0 ? 3 : 2,
        );
        const [alert] = await db.query<{ status: string }>(
          "select status from inbound_alerts where id = $1",
          [alertId],
        );
        assert.equal(alert.status, "EXECUTED");
      });

      await ctx.step("a restart re-running the same candles places nothing more", async () => {
        const before = await snapshot(db);
        await agents.close();
        // New agents over the same database, started as if just before the crossing candle
        // closed: their state is rebuilt from the stored candles, and the next tick feeds the
        // 12:14 candle again and re-emits the same decision.
        clock.set(new Date(CROSS_TS + 30_000));
        agents = await startAgents(db, config, clock);
        assert.equal(await agents.execution.recover(), 0);
        await agents.strategy.start();
        clock.set(new Date(CROSS_TS + MINUTE_MS + 30_000));
        const [r] = await agents.ingestion.runOnce();
        assert.equal(r.ok, true, r.error);
        const again = await agents.strategy.runOnce();
        assert.deepEqual(again.map((d) => d.idempotencyKey), [KEY]);
        assert.deepEqual(agents.woken.drain(), [], "a duplicate wakes nobody");
        const summary = await agents.execution.runOnce();
        assert.equal(summary.claimed, 0);
        await agents.execution.reconcileOnce();
        const after = await snapshot(db);
        // The intake records the repeat's arrival as DUPLICATE; nothing else changed.
        const repeat = after.alerts.pop();
        assert.equal(repeat?.status, "DUPLICATE");
        assert.equal(repeat?.idempotency_key, KEY);
        assert.deepEqual(after, before);
      });

      await ctx.step(
        "even a second alert with the key that reaches execution is a duplicate",
        async () => {
          // As if the intake's dedupe had been bypassed: the order table still refuses the key.
          const [{ id }] = await db.query<{ id: number }>(
            `insert into inbound_alerts (source, idempotency_key, raw_body, decision)
           values ('strategy', $1, $2, $3) returning id`,
            [KEY, JSON.stringify(decision), JSON.stringify(decision)],
          );
          const summary = await agents.execution.runOnce();
          assert.equal(summary.claimed, 1);
          assert.equal(summary.duplicate, 1, JSON.stringify(summary));
          assert.equal(await count(db, "select 1 from orders where purpose <> 'stop_loss'"), 1);
          const [alert] = await db.query<{ status: string }>(
            "select status from inbound_alerts where id = $1",
            [id],
          );
          assert.equal(alert.status, "DUPLICATE");
        },
      );
    } finally {
      await agents.close();
      await fake.close();
      await t.close();
    }
  },
});
