import assert from "node:assert/strict";
import { toFill, toOrder } from "./ccxt_map.ts";

// A ccxt trade as its safeTrade leaves it when the exchange gives no trade id: `id` undefined.
const idless = {
  id: undefined,
  order: undefined,
  symbol: "BTC/USDT",
  side: "buy",
  amount: 0.001,
  price: 50000,
  fee: { cost: 0.05, currency: "USDT" },
  timestamp: 1_700_000_000_000,
};

Deno.test('a trade without an id maps to a fill without one, not to the id "undefined"', () => {
  const f = toFill(idless, { id: "123", clientOrderId: "pg-1", timestamp: 1 });
  assert.equal(f.id, undefined);
  assert.deepEqual(
    [f.orderId, f.clientOrderId, f.qty, f.price, f.fee, f.feeCurrency],
    ["123", "pg-1", "0.001", "50000", "0.05", "USDT"],
  );
  assert.equal(toFill({ ...idless, id: "" }).id, undefined);
  assert.equal(toFill({ ...idless, id: null }).id, undefined);
  // Without the trade's order nor an order, the fill names no order (and matches none).
  assert.equal(toFill(idless).orderId, "");
});

Deno.test("a trade id, a number included, maps as a string", () => {
  assert.equal(toFill({ ...idless, id: 5001, order: 1000 }).id, "5001");
  assert.equal(toFill({ ...idless, id: 5001, order: 1000 }).orderId, "1000");
  assert.equal(toFill({ ...idless, id: "t-7" }).id, "t-7");
});

Deno.test("an order's trades without ids are its fills without ids, each kept", () => {
  const o = toOrder({
    id: "1000",
    clientOrderId: "pg-1",
    symbol: "BTC/USDT",
    side: "buy",
    type: "market",
    status: "closed",
    amount: 0.002,
    filled: 0.002,
    average: 50000.005,
    timestamp: 1,
    trades: [idless, { ...idless, price: 50000.01 }],
  });
  assert.deepEqual(o.fills?.map((f) => [f.id, f.orderId, f.price]), [
    [undefined, "1000", "50000"],
    [undefined, "1000", "50000.01"],
  ]);
});

Deno.test('an order without an id maps to the id "", not to the string "undefined"', () => {
  const o = { clientOrderId: "pg-1", status: "closed", amount: 1, filled: 1, symbol: "BTC/USDT" };
  assert.equal(toOrder({ ...o, id: undefined }).id, "");
  assert.equal(toOrder({ ...o, id: null }).id, "");
  assert.equal(toOrder({ ...o, id: 42 }).id, "42");
});
