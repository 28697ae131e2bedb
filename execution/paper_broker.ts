/**
 * The paper broker: the same port as the ccxt adapter, so paper trading runs the live code
 * path. Market data comes from the real exchange's public API (the ccxt adapter without keys);
 * orders fill at the market price with the exchange's taker fee (in the quote asset); balances
 * are the sums of the ledger's `paper` account, whose initial deposit (PAPER_BALANCE) is
 * recorded once. The broker writes no trade legs itself: the Execution agent records fills.
 *
 * Orders are taken one at a time, and what an accepted order will take (a buy's cost and fee,
 * a sell's quantity) is held back from the free balance until its order is settled in the
 * database: fills arrive in the ledger after the answer, so parallel buys checked against the
 * ledger alone would each see the whole balance. The ledger refuses an overdraft of the paper
 * account in any case (migration 0008).
 */
import { RejectedError } from "../core/errors.ts";
import type { Db } from "../db/mod.ts";
import { dec } from "../trading/decimal.ts";
import type {
  Balance,
  Exchange,
  ExchangeOrder,
  Fill,
  Market,
  OrderRequest,
} from "../exchange/mod.ts";

export const PAPER_ACCOUNT = "paper";
/** A hold for an order the database never recorded (a direct call) lapses after this. */
const HOLD_UNKNOWN_MS = 5 * 60_000;

export interface PaperOptions {
  db: Db;
  /** Public market data: the ccxt adapter of the real exchange (no keys needed). */
  market: Exchange;
  initialBalanceQuote: number;
  depositAsset?: string;
  /** The account whose paper book this is (migration 0016); the default account when unset. */
  accountId?: number;
  now?: () => number;
}

// Longer than ~80 lines: one closure over the paper account: each method of the Exchange port is short.
export function createPaperExchange(options: PaperOptions): Exchange {
  const { db, market } = options;
  const now = options.now ?? (() => Date.now());
  const depositAsset = options.depositAsset ?? "USDT";
  const accountId = options.accountId ?? 1;
  const markets = new Map<string, Market>();
  const orders = new Map<string, ExchangeOrder>();
  const limitPrices = new Map<string, string>();
  let deposited = false;
  /** Client order id → what the order holds back, until the database shows it settled. */
  const held = new Map<string, { asset: string; amount: string; at: number }>();
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn);
    queue = run.catch(() => {});
    return run;
  };

  /** Drops the holds of orders settled in the database (or unknown to it after a while). */
  const releaseSettled = async () => {
    if (held.size === 0) return;
    const ids = [...held.keys()];
    const rows = await db.query<{ client_order_id: string; settled: boolean }>(
      `select client_order_id, status in ('FILLED', 'CANCELED', 'REJECTED', 'EXPIRED') as settled
         from orders where client_order_id = any($1::text[])`,
      [ids],
    );
    const known = new Map(rows.map((r) => [r.client_order_id, r.settled]));
    for (const id of ids) {
      const settled = known.get(id);
      if (settled || (settled === undefined && now() - held.get(id)!.at > HOLD_UNKNOWN_MS)) {
        held.delete(id);
      }
    }
  };

  const ensureMarkets = async () => {
    if (markets.size === 0) {
      for (const m of await market.loadMarkets()) {
        markets.set(m.symbol, m);
      }
    }
  };

  const ensureDeposit = async () => {
    if (deposited) return;
    // The ledger references the exchange row; the market sync may not have run yet.
    await db.query(
      "insert into exchanges (id, mode) values ($1, 'paper') on conflict (id) do nothing",
      [market.id],
    );
    await db.query(
      `insert into transactions (exchange_id, account, asset, amount, kind, note, account_id)
       values ($1, $2, $3, $4, 'deposit', 'initial paper balance', $5)
       on conflict (account_id, exchange_id, account)
       where kind = 'deposit' and note = 'initial paper balance'
       do nothing`,
      [market.id, PAPER_ACCOUNT, depositAsset, String(options.initialBalanceQuote), accountId],
    );
    deposited = true;
  };

  const balances = async (): Promise<Record<string, Balance>> => {
    await ensureDeposit();
    const rows = await db.query<{ asset: string; total: string }>(
      `select asset, sum(amount)::text as total from transactions
        where account_id = $3 and exchange_id = $1 and account = $2 group by asset`,
      [market.id, PAPER_ACCOUNT, accountId],
    );
    const used = new Map<string, string>();
    for (const h of held.values()) used.set(h.asset, dec.add(used.get(h.asset) ?? "0", h.amount));
    return Object.fromEntries(rows.map((r) => {
      const total = dec.normalize(r.total);
      const inUse = used.get(r.asset) ?? "0";
      return [r.asset, { free: dec.sub(total, inUse), used: inUse, total }];
    }));
  };

  const fill = (o: ExchangeOrder, m: Market, price: string): ExchangeOrder => {
    const fee = dec.mul(dec.mul(o.qty, price), String(m.takerFee ?? 0), 8);
    const f: Fill = {
      id: `${o.clientOrderId}-1`,
      orderId: o.id,
      clientOrderId: o.clientOrderId,
      symbol: o.symbol,
      side: o.side,
      qty: o.qty,
      price,
      fee,
      feeCurrency: m.quote,
      ts: now(),
    };
    const filled: ExchangeOrder = {
      ...o,
      status: "closed",
      filled: o.qty,
      avgPrice: price,
      fee: { cost: fee, currency: m.quote },
      fills: [f],
    };
    orders.set(o.clientOrderId!, filled);
    return filled;
  };

  const lastPrice = async (symbol: string) =>
    dec.normalize((await market.fetchTicker(symbol)).last);

  const marketable = (o: ExchangeOrder, price: string, limit?: string) =>
    !limit || (o.side === "buy" ? dec.cmp(price, limit) <= 0 : dec.cmp(price, limit) >= 0);

  /** The checks and the hold, one order at a time; `price` is read before the queue. */
  async function place(r: OrderRequest, price: string): Promise<ExchangeOrder> {
    const m = markets.get(r.symbol);
    if (!m) {
      throw new RejectedError(`Paper order "${r.clientOrderId}": unknown symbol ${r.symbol}`);
    }
    const existing = orders.get(r.clientOrderId);
    if (existing?.status === "open") {
      throw new RejectedError(`Paper order "${r.clientOrderId}": duplicate client order id`);
    }
    const at = r.type === "limit" && r.price &&
        marketable({ side: r.side } as ExchangeOrder, price, r.price)
      ? price
      : r.price ?? price;
    const notional = dec.mul(r.qty, at, 8);
    if (m.minNotional && dec.cmp(notional, m.minNotional) < 0) {
      throw new RejectedError(
        `Paper order "${r.clientOrderId}": notional ${notional} ${m.quote} is below the minimum ${m.minNotional}`,
      );
    }
    await releaseSettled();
    const bal = await balances();
    const fee = dec.mul(notional, String(m.takerFee ?? 0), 8);
    if (r.side === "buy" && dec.cmp(dec.add(notional, fee), bal[m.quote]?.free ?? "0") > 0) {
      throw new RejectedError(
        `Paper order "${r.clientOrderId}": insufficient ${m.quote} balance`,
      );
    }
    if (r.side === "sell" && dec.cmp(r.qty, bal[m.base]?.free ?? "0") > 0) {
      throw new RejectedError(`Paper order "${r.clientOrderId}": insufficient ${m.base} balance`);
    }
    const o: ExchangeOrder = {
      id: `P${r.clientOrderId}`,
      clientOrderId: r.clientOrderId,
      symbol: r.symbol,
      side: r.side,
      type: r.type,
      status: "open",
      qty: dec.normalize(r.qty),
      filled: "0",
      ts: now(),
    };
    orders.set(r.clientOrderId, o);
    held.set(
      r.clientOrderId,
      r.side === "buy"
        ? { asset: m.quote, amount: dec.add(notional, fee), at: now() }
        : { asset: m.base, amount: o.qty, at: now() },
    );
    if (r.type === "limit" && r.price) limitPrices.set(r.clientOrderId, r.price);
    return marketable(o, price, r.type === "limit" ? r.price : undefined) ? fill(o, m, price) : o;
  }

  return {
    id: market.id,
    mode: "paper",
    loadMarkets: () => market.loadMarkets(),
    fetchOHLCV: (...args) => market.fetchOHLCV(...args),
    fetchTicker: (symbol) => market.fetchTicker(symbol),
    // Holds of orders settled meanwhile are dropped first, or the free balance would count
    // a filled buy twice (once in the ledger, once held).
    fetchBalance: async () => {
      await releaseSettled();
      return await balances();
    },
    async createOrder(r: OrderRequest) {
      await ensureMarkets();
      const price = await lastPrice(r.symbol);
      return await oneAtATime(() => place(r, price));
    },
    cancelOrder(clientOrderId) {
      const o = orders.get(clientOrderId);
      if (!o || o.status !== "open") {
        return Promise.reject(new RejectedError(`Paper order "${clientOrderId}" is not open`));
      }
      orders.set(clientOrderId, { ...o, status: "canceled" });
      return Promise.resolve();
    },
    async fetchOrderByClientId(clientOrderId, symbol) {
      const o = orders.get(clientOrderId);
      if (!o) return null;
      if (o.status === "open") {
        await ensureMarkets();
        const price = await lastPrice(symbol);
        // A resting limit fills at its own price once the market reaches it.
        const limit = limitPrices.get(clientOrderId);
        if (limit && marketable(o, price, limit)) return fill(o, markets.get(symbol)!, limit);
      }
      return o;
    },
    fetchOpenOrders: (symbol) =>
      Promise.resolve(
        [...orders.values()].filter((o) => o.status === "open" && (!symbol || o.symbol === symbol)),
      ),
    fetchMyTrades: (symbol, since, options) =>
      Promise.resolve(
        [...orders.values()].flatMap((o) => o.fills ?? []).filter((f) =>
          f.symbol === symbol &&
          (options?.orderId ? f.orderId === options.orderId : !since || f.ts >= since)
        ),
      ),
    close: () => market.close?.() ?? Promise.resolve(),
  };
}
