/**
 * The paper broker: the same port as the ccxt adapter, so paper trading runs the live code
 * path. Market data comes from the real exchange's public API (the ccxt adapter without keys);
 * balances are the sums of the ledger's `paper` account, whose initial deposit (PAPER_BALANCE)
 * is recorded once. The broker writes no trade legs itself: the Execution agent records fills.
 *
 * Its book is in the database, never in memory, so a restart loses nothing: an order is the
 * `orders` row the service recorded before the create call, and what the broker made of it —
 * accepted, resting, triggered, filled at which price, cancelled — is its `paper_orders` row
 * (migration 0023). A market order, or a limit already marketable, fills at once at the last
 * price, booked and filled in one write; a limit that is not rests ("open") and fills at its
 * own price once the market reaches it; a stop-limit rests untriggered until the last price
 * reaches its stop, fills at that price if it is at or above its limit, and otherwise rests as
 * a limit, filled at its limit once the market is back at it (as Binance's STOP_LOSS_LIMIT and
 * the fake exchange's). A limit's notional and a limit buy's cost are taken at its limit, as
 * Binance takes them. Resting orders are evaluated against the public ticker whenever they are
 * looked at (the reconciler's pass, a cancel): there is no other trigger, and a ticker that
 * fails or has no price triggers nothing. A fill is decided once and stored: every later
 * answer repeats it, with the fill id derived from the client order id. Fees are the
 * exchange's taker fee in the quote asset.
 *
 * Orders are taken one at a time, and what an accepted order takes (a buy's cost and fee, a
 * sell's quantity) is held back from the free balance while it rests and, once filled, until
 * its fill is in the ledger (the answer is recorded after it is given): parallel buys checked
 * against the ledger alone would each see the whole balance. The holds are read from the
 * database, so a restart releases what is settled and keeps what still rests. The ledger
 * refuses an overdraft of the paper account in any case (migration 0008).
 */
import { RejectedError, TemporaryError } from "../core/errors.ts";
import type { Db } from "../db/mod.ts";
import { dec } from "../trading/decimal.ts";
import { ACTIVE_ORDER_STATUSES_SQL } from "../trading/statuses.ts";
import type { Balance, Exchange, ExchangeOrder, Market, OrderRequest } from "../exchange/mod.ts";

export const PAPER_ACCOUNT = "paper";

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

/** A paper order: its `orders` row and the broker's own state of it (`paper_orders`). */
interface BookRow {
  order_id: number;
  client_order_id: string;
  symbol: string;
  side: "buy" | "sell";
  type: string;
  qty: string;
  price: string | null;
  stop_price: string | null;
  status: "open" | "closed" | "canceled";
  triggered: boolean;
  fill_price: string | null;
  fee: string | null;
  fee_currency: string | null;
  created_at: Date;
  filled_at: Date | null;
}

const BOOK_COLUMNS = `p.order_id, o.client_order_id, o.symbol, o.side, o.type, o.qty::text,
  o.price::text, o.stop_price::text, p.status, p.triggered_at is not null as triggered,
  p.fill_price::text, p.fee::text, p.fee_currency, p.created_at, p.filled_at`;
const BOOK_FROM = "paper_orders p join orders o on o.id = p.order_id";

/** What the port answers for a paper order: its one fill, when it filled, is always the same. */
function viewOf(r: BookRow): ExchangeOrder {
  const id = `P${r.client_order_id}`;
  const o: ExchangeOrder = {
    id,
    clientOrderId: r.client_order_id,
    symbol: r.symbol,
    side: r.side,
    type: r.type,
    status: r.status,
    qty: dec.normalize(r.qty),
    filled: "0",
    ts: new Date(r.created_at).getTime(),
  };
  if (r.status !== "closed") return o;
  const price = dec.normalize(r.fill_price!);
  const fee = dec.normalize(r.fee ?? "0");
  return {
    ...o,
    filled: o.qty,
    avgPrice: price,
    fee: { cost: fee, currency: r.fee_currency ?? undefined },
    fills: [{
      id: `${r.client_order_id}-1`,
      orderId: id,
      clientOrderId: r.client_order_id,
      symbol: r.symbol,
      side: r.side,
      qty: o.qty,
      price,
      fee,
      feeCurrency: r.fee_currency ?? undefined,
      ts: new Date(r.filled_at!).getTime(),
    }],
  };
}

/** The taker fee of a fill, in the quote asset, truncated to 8 decimals. */
const feeOf = (qty: string, price: string, m: Market) =>
  dec.mul(dec.mul(qty, price), String(m.takerFee ?? 0), 8);

const marketable = (side: "buy" | "sell", last: string, limit: string | null) =>
  limit === null || (side === "buy" ? dec.cmp(last, limit) <= 0 : dec.cmp(last, limit) >= 0);

/** Whether a resting stop's price is reached: a sell stop at or below it, a buy at or above. */
const stopReached = (side: "buy" | "sell", last: string, stop: string) =>
  side === "sell" ? dec.cmp(last, stop) <= 0 : dec.cmp(last, stop) >= 0;

/**
 * What a resting order does at `last`: trigger (a stop reached), fill at a price, or nothing.
 * A stop reached now is a taker at the market; a limit fills at its own price, and so does a
 * stop-limit triggered on an earlier look that rested (a gap below its limit): it is a limit on
 * the book by then, which the market takes at its price on the way back, never above it.
 */
export function restingStep(
  r: Pick<BookRow, "side" | "type" | "price" | "stop_price" | "triggered">,
  last: string,
): { trigger: boolean; fillAt?: string } {
  const stop = r.type === "stop_limit" || r.type === "stop_market";
  const trigger = stop && !r.triggered && r.stop_price !== null &&
    stopReached(r.side, last, r.stop_price);
  if (stop && !r.triggered && !trigger) return { trigger: false };
  if (!marketable(r.side, last, r.type === "stop_market" ? null : r.price)) return { trigger };
  const taker = r.type === "stop_market" || (stop && trigger);
  return { trigger, fillAt: taker ? last : dec.normalize(r.price ?? last) };
}

// Longer than ~80 lines: one closure over the paper account: each method of the Exchange port is short.
export function createPaperExchange(options: PaperOptions): Exchange {
  const { db, market } = options;
  const now = options.now ?? (() => Date.now());
  const depositAsset = options.depositAsset ?? "USDT";
  const accountId = options.accountId ?? 1;
  const markets = new Map<string, Market>();
  let deposited = false;
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn);
    queue = run.catch(() => {});
    return run;
  };

  const ensureMarkets = async () => {
    if (markets.size === 0) {
      for (const m of await market.loadMarkets()) {
        markets.set(m.symbol, m);
      }
    }
  };

  const marketOf = async (symbol: string, cid: string) => {
    await ensureMarkets();
    const m = markets.get(symbol);
    if (!m) throw new RejectedError(`Paper order "${cid}": unknown symbol ${symbol}`);
    return m;
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

  /** The ledger's sums less what the account's paper orders hold (resting, or not booked yet). */
  const balances = async (): Promise<Record<string, Balance>> => {
    await ensureDeposit();
    const rows = await db.query<{ asset: string; total: string; held: string }>(
      `with l as (select asset, sum(amount) as total from transactions
                   where account_id = $3 and exchange_id = $1 and account = $2 group by asset),
            h as (select p.hold_asset as asset, sum(p.hold_amount) as held from ${BOOK_FROM}
                   where p.account_id = $3 and o.exchange_id = $1
                     and (p.status = 'open'
                          or (p.status = 'closed' and o.status in ${ACTIVE_ORDER_STATUSES_SQL}))
                   group by p.hold_asset)
       select l.asset, l.total::text, coalesce(h.held, 0)::text as held
         from l left join h using (asset)`,
      [market.id, PAPER_ACCOUNT, accountId],
    );
    return Object.fromEntries(rows.map((r) => {
      const total = dec.normalize(r.total);
      const inUse = dec.normalize(r.held);
      return [r.asset, { free: dec.sub(total, inUse), used: inUse, total }];
    }));
  };

  /** The last price, or an error: a ticker without a usable price is never a trigger. */
  const lastPrice = async (symbol: string): Promise<string> => {
    const last = (await market.fetchTicker(symbol)).last;
    if (!Number.isFinite(last) || !(last > 0)) {
      throw new TemporaryError(`Paper broker: no usable last price for ${symbol} (${last})`);
    }
    return dec.normalize(last);
  };

  const bookRows = (where: string, params: unknown[]) =>
    db.query<BookRow>(
      `select ${BOOK_COLUMNS} from ${BOOK_FROM}
        where p.account_id = $1 and o.exchange_id = $2 and ${where} order by p.order_id`,
      [accountId, market.id, ...params],
    );

  const byClientId = async (cid: string) =>
    (await bookRows("o.client_order_id = $3", [cid]))[0] as BookRow | undefined;

  /**
   * Moves one resting order along at `last` and stores the step; only from 'open', so two
   * lookups at once (or a cancel meanwhile) cannot fill it twice. Returns the stored row.
   */
  async function advance(r: BookRow, last: string): Promise<BookRow> {
    if (r.status !== "open") return r;
    const step = restingStep(r, last);
    if (!step.trigger && step.fillAt === undefined) return r;
    return await store(r, step);
  }

  /** Stores a trigger and/or the one fill of an open order (the fee in the quote asset). */
  async function store(r: BookRow, step: { trigger: boolean; fillAt?: string }) {
    const m = await marketOf(r.symbol, r.client_order_id);
    const fee = step.fillAt === undefined ? null : feeOf(r.qty, step.fillAt, m);
    await db.query(
      `update paper_orders set
              triggered_at = case when $2 then coalesce(triggered_at, $6) else triggered_at end,
              status = case when $3::numeric is null then status else 'closed' end,
              fill_price = $3, fee = $4,
              fee_currency = case when $3::numeric is null then null else $5 end,
              filled_at = case when $3::numeric is null then null else $6 end,
              updated_at = now()
        where order_id = $1 and status = 'open'`,
      [r.order_id, step.trigger, step.fillAt ?? null, fee, m.quote, new Date(now())],
    );
    return (await byClientId(r.client_order_id))!;
  }

  /** The account's resting orders (of one symbol, or all) moved along at their last prices. */
  async function openOrders(symbol?: string): Promise<BookRow[]> {
    const rows = await bookRows("p.status = 'open' and ($3::text is null or o.symbol = $3)", [
      symbol ?? null,
    ]);
    const prices = new Map<string, Promise<string>>();
    const out: BookRow[] = [];
    for (const r of rows) {
      if (!prices.has(r.symbol)) prices.set(r.symbol, lastPrice(r.symbol));
      out.push(await advance(r, await prices.get(r.symbol)!));
    }
    return out;
  }

  /**
   * Refuses what the exchange would: a stop that would trigger at once, a quantity above the
   * market's maximum (LOT_SIZE, and MARKET_LOT_SIZE for a market order; the orders trigger
   * already refused one below its minimum), a notional too small.
   * Returns the notional, which is also what a buy must have free: at the last price for a
   * market order, at its limit for a limit (marketable or not), as Binance checks NOTIONAL and
   * locks a limit buy's cost at its price.
   */
  function checkRequest(r: OrderRequest, m: Market, last: string): string {
    const tag = `Paper order "${r.clientOrderId}"`;
    if (r.type === "stop_limit" || r.type === "stop_market") {
      if (!r.stopPrice || (r.type === "stop_limit" && !r.price)) {
        throw new RejectedError(`${tag}: a stop order needs its stop and limit prices`);
      }
      if (stopReached(r.side, last, r.stopPrice)) {
        throw new RejectedError(`${tag}: stop price would trigger immediately`);
      }
    }
    const above = (max: string | undefined) =>
      max !== undefined && dec.cmp(max, "0") > 0 && dec.cmp(r.qty, max) > 0;
    if (above(m.maxQty)) {
      throw new RejectedError(
        `${tag}: quantity ${dec.normalize(r.qty)} is above the maximum ${
          dec.normalize(m.maxQty!)
        } of ${r.symbol} (LOT_SIZE)`,
      );
    }
    if ((r.type === "market" || r.type === "stop_market") && above(m.marketMaxQty)) {
      throw new RejectedError(
        `${tag}: quantity ${dec.normalize(r.qty)} is above the maximum ${
          dec.normalize(m.marketMaxQty!)
        } of a market order on ${r.symbol} (MARKET_LOT_SIZE)`,
      );
    }
    const at = r.type === "market" || r.type === "stop_market" ? last : r.price ?? last;
    const notional = dec.mul(r.qty, at, 8);
    if (m.minNotional && dec.cmp(notional, m.minNotional) < 0) {
      throw new RejectedError(
        `${tag}: notional ${notional} ${m.quote} is below the minimum ${m.minNotional}`,
      );
    }
    return notional;
  }

  /** The checks, the hold and the book entry, one order at a time; `last` is read before. */
  async function place(r: OrderRequest, last: string): Promise<ExchangeOrder> {
    const m = await marketOf(r.symbol, r.clientOrderId);
    const notional = checkRequest(r, m, last);
    const fee = dec.mul(notional, String(m.takerFee ?? 0), 8);
    const bal = await balances();
    if (r.side === "buy" && dec.cmp(dec.add(notional, fee), bal[m.quote]?.free ?? "0") > 0) {
      throw new RejectedError(`Paper order "${r.clientOrderId}": insufficient ${m.quote} balance`);
    }
    if (r.side === "sell" && dec.cmp(r.qty, bal[m.base]?.free ?? "0") > 0) {
      throw new RejectedError(`Paper order "${r.clientOrderId}": insufficient ${m.base} balance`);
    }
    const hold = r.side === "buy"
      ? { asset: m.quote, amount: dec.add(notional, fee) }
      : { asset: m.base, amount: dec.normalize(r.qty) };
    // A market order, or a marketable limit, fills at once at the last price. The fill is in
    // the statement that books the order: an order booked open and filled by a second write
    // would, after a crash between the two, rest and fill at its limit, a price the market may
    // never have traded.
    const fillAt = r.type === "market" ||
        (r.type === "limit" && marketable(r.side, last, r.price ?? null))
      ? last
      : null;
    // The order is the row recorded before this call; a second create of it is refused.
    const [booked] = await db.query<{ order_id: number }>(
      `insert into paper_orders (order_id, account_id, hold_asset, hold_amount, status, fill_price,
                                 fee, fee_currency, filled_at)
       select o.id, o.account_id, $4, $5,
              case when $6::numeric is null then 'open' else 'closed' end, $6, $7,
              case when $6::numeric is null then null else $8 end,
              case when $6::numeric is null then null else $9::timestamptz end
         from orders o
        where o.client_order_id = $1 and o.account_id = $2 and o.exchange_id = $3
       on conflict (order_id) do nothing returning order_id`,
      [
        r.clientOrderId,
        accountId,
        market.id,
        hold.asset,
        hold.amount,
        fillAt,
        fillAt === null ? null : feeOf(r.qty, fillAt, m),
        m.quote,
        new Date(now()),
      ],
    );
    if (!booked) {
      const known = await byClientId(r.clientOrderId);
      throw new RejectedError(
        `Paper order "${r.clientOrderId}": ${
          known ? "duplicate client order id" : "not recorded in the database"
        }`,
      );
    }
    return viewOf((await byClientId(r.clientOrderId))!);
  }

  return {
    id: market.id,
    mode: "paper",
    loadMarkets: () => market.loadMarkets(),
    fetchOHLCV: (...args) => market.fetchOHLCV(...args),
    fetchTicker: (symbol) => market.fetchTicker(symbol),
    fetchBalance: () => balances(),
    async createOrder(r: OrderRequest) {
      await ensureMarkets();
      const last = await lastPrice(r.symbol);
      return await oneAtATime(() => place(r, last));
    },
    // A resting order is moved along first: one the market filled meanwhile is not cancelled,
    // as on the exchange, and the reconciler records its fill.
    async cancelOrder(clientOrderId, symbol) {
      const r = await byClientId(clientOrderId);
      const current = r?.status === "open" ? await advance(r, await lastPrice(symbol)) : r;
      const done = current?.status === "open" && (await db.query(
            `update paper_orders set status = 'canceled', updated_at = now()
          where order_id = $1 and status = 'open' returning order_id`,
            [current.order_id],
          )).length > 0;
      if (!done) throw new RejectedError(`Paper order "${clientOrderId}" is not open`);
    },
    async fetchOrderByClientId(clientOrderId, symbol) {
      const r = await byClientId(clientOrderId);
      if (!r) return null;
      return viewOf(r.status === "open" ? await advance(r, await lastPrice(symbol)) : r);
    },
    fetchOpenOrders: async (symbol) =>
      (await openOrders(symbol)).filter((r) => r.status === "open").map(viewOf),
    async fetchMyTrades(symbol, since, options) {
      await openOrders(symbol);
      const closed = await bookRows("p.status = 'closed' and o.symbol = $3", [symbol]);
      return closed.map(viewOf).flatMap((o) => o.fills ?? []).filter((f) =>
        options?.orderId ? f.orderId === options.orderId : !since || f.ts >= since
      );
    },
    close: () => market.close?.() ?? Promise.resolve(),
  };
}
