import assert from "node:assert/strict";
import { computeSnapshot, type FillRow, type LedgerLeg } from "./metrics.ts";
import { periodOf } from "./period.ts";

const at = (hhmm: string, day = "2026-11-30") => new Date(`${day}T${hhmm}:00Z`);
const period = periodOf("daily", at("00:00"));

/** Two round trips on one day: +8.99 then −22.02 USDT, fees in USDT. */
function scriptedDay() {
  const fills: FillRow[] = [
    {
      symbol: "BTC/USDT",
      side: "buy",
      qty: 0.01,
      price: 50_000,
      fee: 0.5,
      feeAsset: "USDT",
      at: at("01:00"),
      strategy: "trend",
    },
    {
      symbol: "BTC/USDT",
      side: "sell",
      qty: 0.01,
      price: 51_000,
      fee: 0.51,
      feeAsset: "USDT",
      at: at("05:00"),
      strategy: "trend",
    },
    {
      symbol: "BTC/USDT",
      side: "buy",
      qty: 0.02,
      price: 51_000,
      fee: 1.02,
      feeAsset: "USDT",
      at: at("10:00"),
      strategy: "swing",
    },
    {
      symbol: "BTC/USDT",
      side: "sell",
      qty: 0.02,
      price: 50_000,
      fee: 1,
      feeAsset: "USDT",
      at: at("12:00"),
      strategy: "swing",
    },
  ];
  const legs: LedgerLeg[] = [{ asset: "USDT", amount: 1000, at: at("12:00", "2026-11-29") }];
  for (const f of fills) {
    const sign = f.side === "buy" ? 1 : -1;
    legs.push({ asset: "BTC", amount: sign * f.qty, at: f.at });
    legs.push({ asset: "USDT", amount: -sign * f.qty * f.price, at: f.at });
    legs.push({ asset: "USDT", amount: -f.fee, at: f.at });
  }
  return { fills, legs };
}

Deno.test("a scripted day: equity, return, PnL, fees, win rate, profit factor, drawdown, exposure", () => {
  const { fills, legs } = scriptedDay();
  const s = computeSnapshot({
    period,
    until: period.end,
    quote: "USDT",
    legs,
    fills,
    prices: [],
    funded: true,
  });
  const m = s.metrics;
  assert.equal(m.startEquity, 1000);
  assert.equal(m.endEquity, 986.97);
  assert.equal(m.returnPct, -1.303);
  assert.equal(m.realizedPnl, -13.03);
  assert.equal(m.fees, 3.03);
  assert.equal(m.fills, 4);
  assert.deepEqual([m.trades, m.wins, m.losses, m.winRatePct], [2, 1, 1, 50]);
  assert.equal(m.avgWin, 8.99);
  assert.equal(m.avgLoss, -22.02);
  assert.equal(m.profitFactor, Math.round((8.99 / 22.02) * 1e8) / 1e8);
  assert.equal(m.maxDrawdown, 22.02);
  assert.equal(m.maxDrawdownPct, Math.round((22.02 / 1008.99) * 100 * 1e8) / 1e8);
  assert.equal(m.exposurePct, 25);
  assert.deepEqual(s.byStrategy.map((g) => [g.name, g.trades, g.pnl]), [["swing", 1, -22.02], [
    "trend",
    1,
    8.99,
  ]]);
  assert.deepEqual(s.openPositions, []);
  // Start, 23 hourly points, the end; the fills fall on hours.
  assert.equal(s.curve.length, 25);
  assert.equal(s.curve[0].equity, 1000);
  assert.equal(s.curve.at(-1)!.equity, 986.97);
});

Deno.test("an open position at the end is valued at the latest price and listed", () => {
  const { fills, legs } = scriptedDay();
  const buy = fills[0];
  const s = computeSnapshot({
    period,
    until: period.end,
    quote: "USDT",
    legs: legs.slice(0, 4),
    fills: [buy],
    prices: [{ symbol: "BTC/USDT", at: at("23:00"), price: 52_000 }],
    funded: true,
  });
  assert.equal(s.metrics.trades, 0);
  assert.equal(s.metrics.endEquity, Math.round((1000 - 500.5 + 520) * 1e8) / 1e8);
  assert.deepEqual(s.openPositions, [{
    symbol: "BTC/USDT",
    qty: 0.01,
    avgEntry: 50_050,
    price: 52_000,
  }]);
});

Deno.test("a fee in the base asset lowers the quantity held, and the trade still closes", () => {
  const fills: FillRow[] = [
    {
      symbol: "ETH/USDT",
      side: "buy",
      qty: 1,
      price: 100,
      fee: 0.001,
      feeAsset: "ETH",
      at: at("01:00"),
      strategy: null,
    },
    {
      symbol: "ETH/USDT",
      side: "sell",
      qty: 0.999,
      price: 110,
      fee: 0.1,
      feeAsset: "USDT",
      at: at("02:00"),
      strategy: null,
    },
  ];
  const s = computeSnapshot({
    period,
    until: period.end,
    quote: "USDT",
    legs: [],
    fills,
    prices: [],
    funded: false,
  });
  assert.equal(s.metrics.trades, 1);
  assert.equal(s.metrics.realizedPnl, Math.round((0.999 * 110 - 0.1 - 100) * 1e8) / 1e8);
  assert.equal(s.metrics.returnPct, null, "no return without the account's deposits");
});

Deno.test("a sell that leaves less than the market's step closes the trade: the rest is dust", () => {
  const fills: FillRow[] = [
    {
      symbol: "BTC/USDT",
      side: "buy",
      qty: 0.01234,
      price: 50_000,
      fee: 0.00001234,
      feeAsset: "BTC",
      at: at("01:00"),
      strategy: null,
      stepSize: 0.00001,
    },
    {
      symbol: "BTC/USDT",
      side: "sell",
      qty: 0.01232,
      price: 49_000,
      fee: 0.6,
      feeAsset: "USDT",
      at: at("02:00"),
      strategy: null,
      stepSize: 0.00001,
    },
  ];
  const input = {
    period,
    until: period.end,
    quote: "USDT",
    legs: [],
    fills,
    prices: [],
    funded: false,
  };
  const s = computeSnapshot(input);
  assert.equal(s.metrics.trades, 1, "0.00000766 BTC left: the trade is closed");
  assert.deepEqual(s.openPositions, []);
  // Without the step the remainder looks like a position still open.
  const unknownStep = computeSnapshot({
    ...input,
    fills: fills.map((f) => ({ ...f, stepSize: null })),
  });
  assert.equal(unknownStep.metrics.trades, 0);
  assert.equal(unknownStep.openPositions.length, 1);
});

Deno.test("fills before the period count for the cost, not for the period's numbers", () => {
  const fills: FillRow[] = [
    {
      symbol: "BTC/USDT",
      side: "buy",
      qty: 0.01,
      price: 40_000,
      fee: 0,
      feeAsset: null,
      at: at("20:00", "2026-11-29"),
      strategy: "t",
    },
    {
      symbol: "BTC/USDT",
      side: "sell",
      qty: 0.01,
      price: 41_000,
      fee: 0,
      feeAsset: null,
      at: at("03:00"),
      strategy: "t",
    },
  ];
  const s = computeSnapshot({
    period,
    until: period.end,
    quote: "USDT",
    legs: [],
    fills,
    prices: [],
    funded: false,
  });
  assert.equal(s.metrics.fills, 1);
  assert.equal(s.metrics.realizedPnl, 10);
  assert.equal(s.trades[0].openedAt, "2026-11-29T20:00:00.000Z");
});

Deno.test("a deposit during the period is capital, not return", () => {
  const legs: LedgerLeg[] = [
    { asset: "USDT", amount: 1000, at: at("12:00", "2026-11-29"), kind: "deposit" },
    { asset: "USDT", amount: 500, at: at("06:00"), kind: "deposit" },
    { asset: "USDT", amount: 15, at: at("08:00"), kind: "trade" },
  ];
  const s = computeSnapshot({
    period,
    until: period.end,
    quote: "USDT",
    legs,
    fills: [],
    prices: [],
    funded: true,
  });
  assert.equal(s.metrics.endEquity, 1515);
  assert.equal(s.metrics.returnPct, 1);
});

Deno.test("two accounts trading one symbol are two positions: each trade is its own account's", () => {
  const fill = (
    account: string,
    side: "buy" | "sell",
    price: number,
    hhmm: string,
  ): FillRow => ({
    symbol: "BTC/USDT",
    side,
    qty: 0.1,
    price,
    fee: 0,
    feeAsset: "USDT",
    at: at(hhmm),
    strategy: "trend",
    account,
  });
  // Alice buys at 50,000; Bob at 60,000; Alice sells at 55,000 (+500); Bob at 60,000 (0);
  // Carol still holds hers at the end.
  const fills = [
    fill("alice", "buy", 50_000, "01:00"),
    fill("bob", "buy", 60_000, "02:00"),
    fill("alice", "sell", 55_000, "03:00"),
    fill("carol", "buy", 58_000, "03:30"),
    fill("bob", "sell", 60_000, "04:00"),
  ];
  const s = computeSnapshot({
    period,
    until: period.end,
    quote: "USDT",
    legs: [{ asset: "USDT", amount: 30_000, at: at("00:00", "2026-11-29") }],
    fills,
    prices: [],
    funded: true,
  });
  assert.deepEqual(
    s.trades.map((t) => [t.account, t.openedAt.slice(11, 16), t.closedAt.slice(11, 16), t.pnl]),
    [["alice", "01:00", "03:00", 500], ["bob", "02:00", "04:00", 0]],
  );
  assert.equal(s.metrics.trades, 2);
  assert.equal(s.metrics.wins, 1);
  assert.equal(s.metrics.realizedPnl, 500);
  assert.deepEqual(
    s.openPositions.map((o) => [o.account, o.qty, o.avgEntry]),
    [["carol", 0.1, 58_000]],
  );
  // One account's report (every fill its own): no account names in the rows.
  const alone = computeSnapshot({
    period,
    until: period.end,
    quote: "USDT",
    legs: [],
    fills: fills.filter((f) => f.account === "alice"),
    prices: [],
    funded: false,
  });
  assert.deepEqual(alone.trades.map((t) => [t.account, t.pnl]), [[undefined, 500]]);
});

Deno.test("a fill at exactly midnight counts in one day only: the next one's", () => {
  const mid = new Date("2026-12-02T00:00:00.000Z");
  const fills: FillRow[] = [
    {
      symbol: "BTC/USDT",
      side: "buy",
      qty: 1,
      price: 100,
      fee: 1,
      feeAsset: "USDT",
      at: new Date("2026-12-01T10:00:00Z"),
      strategy: "s",
    },
    {
      symbol: "BTC/USDT",
      side: "sell",
      qty: 1,
      price: 110,
      fee: 1,
      feeAsset: "USDT",
      at: mid,
      strategy: "s",
    },
  ];
  const day = (at: string) => {
    const p = periodOf("daily", new Date(at));
    return computeSnapshot({
      period: p,
      until: p.end,
      quote: "USDT",
      legs: [],
      fills,
      prices: [],
      funded: false,
    }).metrics;
  };
  const d1 = day("2026-12-01T12:00:00Z");
  const d2 = day("2026-12-02T12:00:00Z");
  assert.deepEqual([d1.trades, d2.trades], [0, 1]);
  assert.deepEqual([d1.fees, d2.fees], [1, 1]);
});

Deno.test("a fee in BNB counts at the value recorded with its fill, else at the BNB price", () => {
  const fill = (side: "buy" | "sell", price: number, hhmm: string, feeQuote?: number) => ({
    symbol: "BTC/USDT",
    side,
    qty: 0.1,
    price,
    fee: 0.00625,
    feeAsset: "BNB",
    ...(feeQuote === undefined ? {} : { feeQuote }),
    at: at(hhmm),
    strategy: null,
  });
  const snapshot = (fills: FillRow[]) =>
    computeSnapshot({
      period,
      until: period.end,
      quote: "USDT",
      legs: [],
      fills,
      // A BNB/USDT candle at 640 known before both fills.
      prices: [{ symbol: "BNB/USDT", at: at("00:30"), price: 640 }],
      funded: false,
    }).metrics;
  // Recorded at the fill (its position was charged 3.75 each): the report counts that.
  const recorded = snapshot([
    fill("buy", 50_000, "01:00", 3.75),
    fill("sell", 51_000, "02:00", 3.75),
  ]);
  assert.equal(recorded.realizedPnl, 92.5);
  assert.equal(recorded.fees, 7.5);
  // Nothing recorded (a fill from before fee_quote, or none known then): the report's own price.
  const priced = snapshot([fill("buy", 50_000, "01:00"), fill("sell", 51_000, "02:00")]);
  assert.equal(priced.realizedPnl, 92);
  assert.equal(priced.fees, 8);
});
