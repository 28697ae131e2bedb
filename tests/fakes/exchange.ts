/**
 * A Binance-compatible subset of the spot REST API on 127.0.0.1 (port 0), reached through the
 * real ccxt client by pointing EXCHANGE_API_URL (or `urls.api`) at `fake.url`.
 *
 * Endpoints (under /api/v3/, signatures are accepted without checking):
 *   GET  ping, time, exchangeInfo, ticker/24hr, ticker/price, ticker/bookTicker
 *   GET  klines         symbol, interval (1m 3m 5m 15m 30m 1h 4h 1d), startTime?, endTime?,
 *                       limit? (≤ 1000): a deterministic ±1 % wave around the symbol's price
 *   POST order          symbol, side, type (MARKET|LIMIT|STOP_LOSS_LIMIT), quantity, price,
 *                       stopPrice, timeInForce, newClientOrderId (≤ 36 chars; refused with -2010
 *                       while an open order has it), newOrderRespType. Enforces LOT_SIZE (min,
 *                       max, step), MARKET_LOT_SIZE (max, on MARKET), NOTIONAL (-1013) and the
 *                       symbol's orderTypes (-1013).
 *                       MARKET fills at once at the symbol's price (moved against the taker by
 *                       `marketSlippagePct`) with a 0.1 % commission in the quote asset
 *                       (in the asset received with `commissionIn: "received"`; in BNB at
 *                       the BNB<quote> market's price, 25 % off, with `commissionIn: "BNB"`
 *                       while the BNB balance covers it: Binance's "use BNB to pay for fees");
 *                       LIMIT fills when marketable, else rests (NEW). STOP_LOSS_LIMIT (a sell
 *                       stop must be below the price, else -2010 "Stop price would trigger
 *                       immediately") rests untriggered; once the price reaches the stop it is
 *                       a limit at `price`: filled at that market price when it is at or above
 *                       the limit, else resting, then filled at its limit once the price is
 *                       back at or above it (as any resting limit). An open sell locks its
 *                       quantity: a sell beyond the base balance less what open sells lock is
 *                       refused with -2010 "Account has insufficient balance for requested
 *                       action."; so is a buy costing more than the quote balance less what open
 *                       buys lock.
 *   GET  order          symbol + orderId or origClientOrderId (-2013 when unknown)
 *   DELETE order        symbol + orderId or origClientOrderId (-2011 when unknown or closed)
 *   GET  openOrders     symbol optional
 *   GET  myTrades       symbol, orderId?, startTime?, limit? (500 by default, ≤ 1000)
 *   GET  account        balances (free, locked)
 *
 * Options: balances ({USDT: "10000"} by default), markets (BTCUSDT at 50000 and ETHUSDT at 3000,
 * tick 0.01, min notional 5; override or add fields per symbol), now (a clock in epoch ms).
 *
 * Test controls on the returned object:
 *   url                       the base to give ccxt (http://127.0.0.1:PORT)
 *   setPrice(marketId, p)     moves the price (and fills resting limits that became marketable)
 *   fail(kind, times = 1, type?)  scripts the next POST /order calls (of that order type only,
 *                             when given):
 *       "hang"        books the order, then never answers (until close) — a client timeout
 *       "hang-before" never answers and books nothing
 *       "5xx"         answers 500 without booking
 *       "429"         answers 429 (Retry-After: 7) without booking
 *       "maintenance" answers 503 {"code":1,"msg":"System is under maintenance."}
 *       "odd"         books the order, then answers 400 with a code ccxt does not know (-9876)
 *       "refuse"      answers -1013 "Stop loss orders are not supported for this symbol."
 *       "partial"     fills half the order, which then expires (a market order out of liquidity)
 *   cancel(cid), expire(cid)  a person (or the exchange) ends an open order: CANCELED / EXPIRED
 *   fillPart(cid, qty)        a resting order fills `qty` at its limit (PARTIALLY_FILLED, FILLED
 *                             once all of it traded)
 *   splitMarketFills(n)       market orders fill in n trades, each a tick worse than the last
 *   showTrades(view)          "ids" (as Binance), "no-ids" (trades without their id, in the
 *                             order's answer and myTrades) or "hidden" (no trades at all: an
 *                             exchange that reports only the order's totals)
 *   maintenance(on)           every endpoint answers as in maintenance while on
 *   failRequests(key, times, answer = "500")  the next `times` requests of `key` ("GET
 *                             openOrders", or one order's: "DELETE order <client order id>")
 *                             fail: "500", "429", or "unknown-order" (-2011, the order left
 *                             as it is)
 *   hold(key)                 requests of `key` wait until the returned release() (a slow call)
 *   orders, trades            what was booked, in order
 *   requests                  count of requests per "METHOD path"
 *   balance(asset), markets   the account's balance, the markets by id
 *   setBalance(asset, amount) sets a balance (coins gone without an order: a withdrawal, a fee
 *                             the exchange took and did not report)
 *   close()                   releases hung requests and stops the server
 */
import {
  COMMISSION_RATE,
  DEFAULT_MARKETS,
  DEFAULT_ORDER_TYPES,
  exchangeInfoView,
  type FakeMarket,
  fix8,
  klinesView,
  tickerView,
} from "./exchange_views.ts";

/**
 * How `failRequests` answers: "500" (a plain Internal Server Error), "429" (Retry-After: 7), or
 * "unknown-order" (-2011 "Unknown order sent." while the order is left as it is: a refusal of a
 * cancel that does not prove the order ended).
 */
export type RequestFailure = "500" | "429" | "unknown-order";

export type FailKind =
  | "hang"
  | "hang-before"
  | "5xx"
  | "429"
  | "maintenance"
  | "odd"
  | "refuse"
  /** The order fills half of its quantity, then expires (a market order out of liquidity). */
  | "partial";

export interface FakeOrder {
  symbol: string;
  orderId: number;
  clientOrderId: string;
  price: string;
  origQty: string;
  executedQty: string;
  cummulativeQuoteQty: string;
  status: "NEW" | "PARTIALLY_FILLED" | "FILLED" | "CANCELED" | "EXPIRED";
  /** The trigger of a STOP_LOSS_LIMIT ("0.00000000" otherwise). */
  stopPrice: string;
  /** A STOP_LOSS_LIMIT whose stop was reached: it now rests as a limit at `price`. */
  triggered?: boolean;
  timeInForce: string;
  type: string;
  side: "BUY" | "SELL";
  time: number;
  updateTime: number;
}

export interface FakeTrade {
  symbol: string;
  id: number;
  orderId: number;
  price: string;
  qty: string;
  quoteQty: string;
  commission: string;
  commissionAsset: string;
  time: number;
  isBuyer: boolean;
}

/** How the fake's answers show trades (see `tradeView` on the fake). */
export type TradeView = "ids" | "no-ids" | "hidden";

export interface FakeExchangeOptions {
  balances?: Record<string, string>;
  markets?: Partial<FakeMarket>[];
  now?: () => number;
  /** What GET /sapi/v1/account/apiRestrictions reports. */
  enableWithdrawals?: boolean;
  /** What GET /sapi/v1/account/apiRestrictions reports as enableSpotAndMarginTrading. */
  enableTrading?: boolean;
  /**
   * The asset commissions are taken in: "quote" (the default here), "received", as Binance
   * does without BNB: a buy pays in the base it receives, a sell in the quote, or "BNB", as
   * Binance does with "use BNB to pay for fees": 0.075 % (0.1 % less 25 %) of the trade's value
   * in BNB at the price of the BNB<quote> market (which must be among `markets`), taken from the
   * BNB balance; when that balance is short, the fill pays as "received" does.
   */
  commissionIn?: "quote" | "received" | "BNB";
  /**
   * How far (%) a MARKET order fills from the symbol's price, against the taker: a buy above
   * it, a sell below it (the book's depth); the balance check takes that price too. 0 unless set.
   */
  marketSlippagePct?: number;
}

/** Binance's discount on a commission paid in BNB. */
const BNB_DISCOUNT = 0.75;

export function startFakeExchange(options: FakeExchangeOptions = {}) {
  const now = options.now ?? (() => Date.now());
  const markets = new Map<string, FakeMarket>();
  for (const m of DEFAULT_MARKETS) markets.set(m.symbol, { ...m });
  for (const m of options.markets ?? []) {
    const base = markets.get(m.symbol ?? "") ?? DEFAULT_MARKETS[0];
    markets.set(m.symbol!, { ...base, ...m } as FakeMarket);
  }
  const balances = new Map<string, number>(
    Object.entries(options.balances ?? { USDT: "10000" }).map(([k, v]) => [k, Number(v)]),
  );
  const orders: FakeOrder[] = [];
  const trades: FakeTrade[] = [];
  const requests: Record<string, number> = {};
  const script: Array<{ kind: FailKind; type?: string }> = [];
  const hung: Array<() => void> = [];
  let inMaintenance = false;
  /** Requests ("METHOD path") failed while their count is above zero, and how. */
  const failingReads: Record<string, { times: number; answer: RequestFailure }> = {};
  /** Requests ("METHOD path") held until their gate opens, and how many are waiting. */
  const gates: Record<string, { open: Promise<void>; waiting: number }> = {};
  let nextOrderId = 1000;
  let nextTradeId = 5000;

  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), {
      status,
      headers: {
        "content-type": "application/json",
        ...(status === 429 ? { "retry-after": "7" } : {}),
      },
    });
  const error = (code: number, msg: string, status = 400) => json({ code, msg }, status);
  const hang = () => new Promise<Response>((resolve) => hung.push(() => resolve(json({}, 503))));

  /** The share of the next fill, after which its order expires ("partial" in the script). */
  let partialShare: number | undefined;
  /**
   * One trade of `qty` of the order at `price`; the order is FILLED once all of it traded, else
   * PARTIALLY_FILLED (`ends`: EXPIRED, a market order out of liquidity).
   */
  const book = (o: FakeOrder, m: FakeMarket, price: number, qty: number, ends = false) => {
    const quoteQty = qty * price;
    const bnb = markets.get(`BNB${m.quote}`);
    const inBnbQty = options.commissionIn === "BNB" && bnb
      ? quoteQty * COMMISSION_RATE * BNB_DISCOUNT / Number(bnb.price)
      : undefined;
    const inBnb = inBnbQty !== undefined && m.base !== "BNB" &&
      (balances.get("BNB") ?? 0) >= Number(fix8(inBnbQty));
    const inBase = !inBnb && options.commissionIn !== "quote" &&
      options.commissionIn !== undefined && o.side === "BUY";
    const commission = inBnb
      ? Number(fix8(inBnbQty!))
      : inBase
      ? qty * COMMISSION_RATE
      : quoteQty * COMMISSION_RATE;
    const t: FakeTrade = {
      symbol: o.symbol,
      id: nextTradeId++,
      orderId: o.orderId,
      price: fix8(price),
      qty: fix8(qty),
      quoteQty: fix8(quoteQty),
      commission: fix8(commission),
      commissionAsset: inBnb ? "BNB" : inBase ? m.base : m.quote,
      time: now(),
      isBuyer: o.side === "BUY",
    };
    trades.push(t);
    const all = Number(fix8(Number(o.executedQty) + qty)) >= Number(o.origQty);
    o.executedQty = all ? o.origQty : fix8(Number(o.executedQty) + qty);
    o.cummulativeQuoteQty = fix8(Number(o.cummulativeQuoteQty) + quoteQty);
    o.status = all ? "FILLED" : ends ? "EXPIRED" : "PARTIALLY_FILLED";
    o.updateTime = t.time;
    const sign = o.side === "BUY" ? 1 : -1;
    balances.set(m.base, (balances.get(m.base) ?? 0) + sign * qty - (inBase ? commission : 0));
    balances.set(
      m.quote,
      (balances.get(m.quote) ?? 0) - sign * quoteQty - (inBase || inBnb ? 0 : commission),
    );
    if (inBnb) balances.set("BNB", (balances.get("BNB") ?? 0) - commission);
    return t;
  };

  /** Trades of a market order: `splitFills` of them walk the book a tick each, against it. */
  let splitFills = 1;
  /**
   * How the answers show trades: "ids" as Binance does; "no-ids" without their trade id (as
   * some exchanges ccxt serves do); "hidden" not at all (an order's totals only, no trades).
   */
  let tradeView: TradeView = "ids";
  const tradeOut = ({ id, ...rest }: FakeTrade) => tradeView === "ids" ? { id, ...rest } : rest;
  const fill = (o: FakeOrder, m: FakeMarket, price: number) => {
    const left = Number(o.origQty) - Number(o.executedQty);
    // A partial fill is a whole number of steps, as the exchange's lots are.
    const step = Number(m.stepSize);
    if (partialShare !== undefined) {
      const qty = Number(fix8(Math.floor(left * partialShare / step + 1e-9) * step));
      partialShare = undefined;
      return book(o, m, price, qty, true);
    }
    const parts = o.type === "MARKET" ? splitFills : 1;
    const part = Number(fix8(Math.floor(left / parts / step + 1e-9) * step));
    const tick = Number(m.tickSize) * (o.side === "BUY" ? 1 : -1);
    let t!: FakeTrade;
    for (let i = 0; i < parts; i++) {
      const qty = i < parts - 1 ? part : Number(fix8(left - part * (parts - 1)));
      t = book(o, m, Number(fix8(price + i * tick)), qty);
    }
    return t;
  };

  const isStop = (o: FakeOrder) => o.type === "STOP_LOSS_LIMIT";
  /** Resting: nothing filled yet (NEW) or part of it (PARTIALLY_FILLED), as on Binance. */
  const isOpen = (o: FakeOrder) => o.status === "NEW" || o.status === "PARTIALLY_FILLED";
  const marketable = (o: FakeOrder, price: number) =>
    o.type === "MARKET" ||
    ((!isStop(o) || o.triggered === true) &&
      (o.side === "BUY" ? price <= Number(o.price) : price >= Number(o.price)));
  /** What open sells of `asset` still have to sell: locked, as Binance locks it. */
  const lockedBase = (m: FakeMarket) =>
    orders.filter((o) => isOpen(o) && o.side === "SELL" && o.symbol === m.symbol)
      .reduce((sum, o) => sum + Number(o.origQty) - Number(o.executedQty), 0);

  /** What open buys lock of `asset` (their rest at their limit), over every symbol. */
  const lockedQuote = (asset: string) =>
    orders.filter((o) => isOpen(o) && o.side === "BUY" && markets.get(o.symbol)?.quote === asset)
      .reduce((sum, o) => sum + (Number(o.origQty) - Number(o.executedQty)) * Number(o.price), 0);

  const findOrder = (p: URLSearchParams) => {
    const cid = p.get("origClientOrderId");
    const id = p.get("orderId");
    // A client order id is unique among open orders only (as on Binance): prefer the open one.
    const matches = orders.filter((o) =>
      o.symbol === p.get("symbol") &&
      (cid ? o.clientOrderId === cid : String(o.orderId) === id)
    );
    return matches.find(isOpen) ?? matches.at(-1);
  };

  const placeOrder = (p: URLSearchParams): Response | FakeOrder => {
    const m = markets.get(p.get("symbol") ?? "");
    if (!m) return error(-1121, "Invalid symbol.");
    const type = p.get("type") ?? "";
    const side = p.get("side") as "BUY" | "SELL";
    const qty = Number(p.get("quantity"));
    const cid = p.get("newClientOrderId") ?? `fake-${nextOrderId}`;
    if (!/^[a-zA-Z0-9-_]{1,36}$/.test(cid)) {
      return error(-1100, "Illegal characters found in parameter 'newClientOrderId'.");
    }
    if (orders.some((o) => o.clientOrderId === cid && isOpen(o))) {
      return error(-2010, "Duplicate order sent.");
    }
    const step = Number(m.stepSize);
    if (
      !(qty >= Number(m.minQty)) || qty > Number(m.maxQty ?? "9000") ||
      Math.abs(qty / step - Math.round(qty / step)) > 1e-6
    ) {
      return error(-1013, "Filter failure: LOT_SIZE");
    }
    if (type === "MARKET" && qty > Number(m.marketMaxQty ?? "9000")) {
      return error(-1013, "Filter failure: MARKET_LOT_SIZE");
    }
    if (!(m.orderTypes ?? DEFAULT_ORDER_TYPES).includes(type)) {
      return error(-1013, "Stop loss orders are not supported for this symbol.");
    }
    const limited = type === "LIMIT" || type === "STOP_LOSS_LIMIT";
    const slip = (options.marketSlippagePct ?? 0) / 100;
    const price = limited
      ? Number(p.get("price"))
      : Number(fix8(Number(m.price) * (side === "BUY" ? 1 + slip : 1 - slip)));
    if (qty * price < Number(m.minNotional)) return error(-1013, "Filter failure: NOTIONAL");
    const stopPrice = Number(p.get("stopPrice"));
    if (type === "STOP_LOSS_LIMIT") {
      if (!(stopPrice > 0) || !(price > 0)) {
        return error(-1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null.");
      }
      if (side === "SELL" && stopPrice >= Number(m.price)) {
        return error(-2010, "Stop price would trigger immediately.");
      }
    }
    if (side === "SELL" && qty > (balances.get(m.base) ?? 0) - lockedBase(m) + 1e-12) {
      return error(-2010, "Account has insufficient balance for requested action.");
    }
    // A buy costs its quantity at its limit (at the price for a market order) and, here, its
    // commission in the quote asset; what open buys lock is not free.
    if (
      side === "BUY" &&
      qty * price * (options.commissionIn === "received" ? 1 : 1 + COMMISSION_RATE) >
        (balances.get(m.quote) ?? 0) - lockedQuote(m.quote) + 1e-9
    ) {
      return error(-2010, "Account has insufficient balance for requested action.");
    }
    const o: FakeOrder = {
      symbol: m.symbol,
      orderId: nextOrderId++,
      clientOrderId: cid,
      price: limited ? fix8(price) : "0.00000000",
      stopPrice: type === "STOP_LOSS_LIMIT" ? fix8(stopPrice) : "0.00000000",
      origQty: fix8(qty),
      executedQty: "0.00000000",
      cummulativeQuoteQty: "0.00000000",
      status: "NEW",
      timeInForce: limited ? (p.get("timeInForce") ?? "GTC") : "GTC",
      type,
      side,
      time: now(),
      updateTime: now(),
    };
    orders.push(o);
    if (marketable(o, Number(m.price))) fill(o, m, limited ? Number(m.price) : price);
    return o;
  };

  const orderView = (o: FakeOrder) => ({
    ...o,
    orderListId: -1,
    icebergQty: "0.00000000",
    isWorking: !isStop(o) || o.triggered === true,
    workingTime: o.time,
    origQuoteOrderQty: "0.00000000",
    selfTradePreventionMode: "EXPIRE_MAKER",
  });

  const handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname.replace(/^\/api\/v3\//, "");
    const key = `${req.method} ${path}`;
    requests[key] = (requests[key] ?? 0) + 1;
    const p = new URLSearchParams(url.search);
    if (req.method === "POST") {
      for (const [k, v] of new URLSearchParams(await req.text())) p.set(k, v);
    }
    if (inMaintenance) return error(1, "System is under maintenance.", 503);
    const gate = gates[key];
    if (gate) {
      gate.waiting++;
      await gate.open;
    }
    // One order's requests ("DELETE order <client order id>") first, then all of `key`.
    const failing = [failingReads[`${key} ${p.get("origClientOrderId")}`], failingReads[key]]
      .find((f) => f && f.times > 0);
    if (failing) {
      failing.times--;
      if (failing.answer === "429") return error(-1003, "Too many requests.", 429);
      // A refusal that leaves the order as it is (a cancel answered as if the order were gone).
      if (failing.answer === "unknown-order") return error(-2011, "Unknown order sent.");
      return new Response("Internal Server Error", { status: 500 });
    }
    switch (key) {
      case "GET ping":
        return json({});
      case "GET time":
        return json({ serverTime: now() });
      case "GET /sapi/v1/account/apiRestrictions":
        return json({
          ipRestrict: false,
          createTime: now(),
          enableReading: true,
          enableSpotAndMarginTrading: options.enableTrading ?? true,
          enableWithdrawals: options.enableWithdrawals ?? false,
        });
      case "GET exchangeInfo":
        return json(exchangeInfoView([...markets.values()], now()));
      case "GET klines": {
        const m = markets.get(p.get("symbol") ?? "");
        if (!m) return error(-1121, "Invalid symbol.");
        const rows = klinesView(m, p, now());
        return rows ? json(rows) : error(-1120, "Invalid interval.");
      }
      case "GET ticker/24hr":
      case "GET ticker/price":
      case "GET ticker/bookTicker": {
        const list = p.get("symbol") ? [markets.get(p.get("symbol")!)] : [...markets.values()];
        if (list.some((m) => !m)) return error(-1121, "Invalid symbol.");
        const views = (list as FakeMarket[]).map((m) => tickerView(m, now()));
        return json(p.get("symbol") ? views[0] : views);
      }
      case "POST order": {
        // A failure scripted for one order type waits for the first order of that type.
        const next = script[0];
        const kind = next && (!next.type || next.type === p.get("type"))
          ? script.shift()!.kind
          : undefined;
        if (kind === "5xx") return error(-1000, "An unknown error occurred.", 500);
        if (kind === "429") return error(-1003, "Too many requests.", 429);
        if (kind === "maintenance") return error(1, "System is under maintenance.", 503);
        if (kind === "hang-before") return await hang();
        if (kind === "refuse") {
          return error(-1013, "Stop loss orders are not supported for this symbol.");
        }
        if (kind === "partial") partialShare = 0.5;
        const placed = placeOrder(p);
        if (placed instanceof Response) return placed;
        if (kind === "hang") return await hang();
        if (kind === "odd") return error(-9876, "Unexpected error.");
        const fills = tradeView === "hidden"
          ? []
          : trades.filter((t) => t.orderId === placed.orderId).map((t) => ({
            price: t.price,
            qty: t.qty,
            commission: t.commission,
            commissionAsset: t.commissionAsset,
            ...(tradeView === "ids" ? { tradeId: t.id } : {}),
          }));
        return json({ ...orderView(placed), transactTime: placed.time, fills });
      }
      case "GET order": {
        const o = findOrder(p);
        return o ? json(orderView(o)) : error(-2013, "Order does not exist.");
      }
      case "DELETE order": {
        const o = findOrder(p);
        if (!o || !isOpen(o)) return error(-2011, "Unknown order sent.");
        o.status = "CANCELED";
        o.updateTime = now();
        return json(orderView(o));
      }
      case "GET openOrders":
        return json(
          orders.filter((o) => isOpen(o) && (!p.get("symbol") || o.symbol === p.get("symbol"))).map(
            orderView,
          ),
        );
      case "GET myTrades": {
        const matching = trades.filter((t) =>
          t.symbol === p.get("symbol") &&
          (!p.get("orderId") || String(t.orderId) === p.get("orderId")) &&
          (!p.get("startTime") || t.time >= Number(p.get("startTime")))
        );
        // As Binance: at most `limit` (500 by default, 1000 at most) trades; the oldest from
        // startTime, else the most recent.
        const limit = Math.min(Number(p.get("limit") ?? 500), 1000);
        const page = p.get("startTime") ? matching.slice(0, limit) : matching.slice(-limit);
        return json(tradeView === "hidden" ? [] : page.map(tradeOut));
      }
      case "GET account":
        return json({
          makerCommission: 10,
          takerCommission: 10,
          canTrade: true,
          canWithdraw: true,
          canDeposit: true,
          updateTime: now(),
          accountType: "SPOT",
          balances: [...balances.entries()].map(([asset, total]) => {
            const locked = [...markets.values()].filter((m) => m.base === asset)
              .reduce((sum, m) => sum + lockedBase(m), 0);
            return { asset, free: fix8(total - locked), locked: fix8(locked) };
          }),
          permissions: ["SPOT"],
        });
      default:
        return error(-1, `Fake exchange: no route for ${key}`, 404);
    }
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    orders,
    trades,
    requests,
    markets,
    setPrice(marketId: string, price: string) {
      const m = markets.get(marketId);
      if (!m) throw new Error(`Fake exchange has no market ${marketId}`);
      m.price = price;
      const last = Number(price);
      for (const o of orders) {
        if (o.symbol !== marketId || !isOpen(o)) continue;
        let triggeredNow = false;
        if (isStop(o) && !o.triggered) {
          const reached = o.side === "SELL"
            ? last <= Number(o.stopPrice)
            : last >= Number(o.stopPrice);
          if (!reached) continue;
          o.triggered = true;
          triggeredNow = true;
          o.updateTime = now();
        }
        // A stop triggered by this move is a taker at the market price; a resting limit (a stop
        // triggered earlier into a gap included) fills at its own, as the market comes back.
        if (marketable(o, last)) fill(o, m, triggeredNow ? last : Number(o.price));
      }
    },
    /** How answers show trades from now on (TradeView): "ids" (Binance), "no-ids", "hidden". */
    showTrades(view: TradeView) {
      tradeView = view;
    },
    /** A market order fills in this many trades from now on, each a tick worse (1: one). */
    splitMarketFills(n: number) {
      splitFills = n;
    },
    /** `qty` of a resting order fills now at its limit, as one trade (all of it: FILLED). */
    fillPart(clientOrderId: string, qty: string) {
      const o = orders.find((x) => x.clientOrderId === clientOrderId && isOpen(x));
      if (!o) throw new Error(`Fake exchange has no open order ${clientOrderId}`);
      book(o, markets.get(o.symbol)!, Number(o.price), Number(qty));
    },
    /** A person (or the exchange) ends an open order behind the service's back. */
    cancel(clientOrderId: string, status: "CANCELED" | "EXPIRED" = "CANCELED") {
      const o = orders.find((x) => x.clientOrderId === clientOrderId && isOpen(x));
      if (!o) throw new Error(`Fake exchange has no open order ${clientOrderId}`);
      o.status = status;
      o.updateTime = now();
    },
    expire(clientOrderId: string) {
      this.cancel(clientOrderId, "EXPIRED");
    },
    fail(kind: FailKind, times = 1, type?: "MARKET" | "LIMIT" | "STOP_LOSS_LIMIT") {
      for (let i = 0; i < times; i++) script.push({ kind, type });
    },
    maintenance(on: boolean) {
      inMaintenance = on;
    },
    /**
     * Requests of `key` ("GET account") wait until `release()`, then are answered as usual;
     * `waiting()` counts those that arrived.
     */
    hold(key: string) {
      let release!: () => void;
      const open = new Promise<void>((r) => release = r);
      const gate = { open, waiting: 0 };
      gates[key] = gate;
      hung.push(release);
      return {
        waiting: () => gate.waiting,
        release: () => {
          delete gates[key];
          release();
        },
      };
    },
    /**
     * The next `times` requests of `key` ("GET openOrders") fail (0: none again), answered 500
     * by default; see RequestFailure.
     */
    failRequests(key: string, times = 1, answer: RequestFailure = "500") {
      failingReads[key] = { times, answer };
    },
    balance: (asset: string) => balances.get(asset) ?? 0,
    /** Sets the account's balance of `asset` (a withdrawal, a fee the order did not report). */
    setBalance(asset: string, amount: number) {
      balances.set(asset, amount);
    },
    async close() {
      for (const release of hung.splice(0)) release();
      await server.shutdown();
    },
  };
}

export type FakeExchange = ReturnType<typeof startFakeExchange>;
