/**
 * Exchange 5xx and timeouts on create, in process (the agent and the ccxt client against the
 * fake): each unknown outcome is settled from exchange evidence — a booked order is found and
 * recorded, an unbooked one is given up and planned again — and no key is ever filled twice.
 */
import { testDb } from "../../tests/helpers/db.ts";
import { startFakeExchange } from "../../tests/fakes/exchange.ts";
import { executionSetup, insertAlert, liveExchange } from "../../tests/helpers/execution.ts";
import { type Row, row } from "./common.ts";

export async function exchangeFaultsScenario(n: number): Promise<Row[]> {
  const t = await testDb();
  const fake = startFakeExchange({ balances: { USDT: "1000000000" } });
  const exchange = await liveExchange(fake, 500);
  try {
    const agent = await executionSetup(t.db, exchange, { minAgeMs: 0, notFoundMinAgeMs: 0 });
    // The first third of the creates answers 500 unbooked, the next third books the order and
    // never answers (a client timeout), the rest succeed.
    fake.fail("5xx", Math.floor(n / 3));
    fake.fail("hang", Math.floor(n / 3));
    for (let i = 0; i < n; i++) await insertAlert(t.db, { qty: "0.001", sl: "40000" });
    let unknown = 0;
    const started = Date.now();
    for (let pass = 0; pass < 40 && Date.now() - started < 120_000; pass++) {
      unknown += (await agent.runOnce().catch(() => ({ unknown: 0 }))).unknown;
      await agent.reconcileOnce().catch(() => {});
      const [open] = await t.db.query<{ n: number }>(
        `select count(*)::int as n from inbound_alerts
          where status in ('RECEIVED', 'PROCESSING')`,
      );
      if (open.n === 0) break;
    }
    const [s] = await t.db.query<{ executed: number; left: number; unknown_left: number }>(
      `select (select count(*)::int from inbound_alerts where status = 'EXECUTED') as executed,
              (select count(*)::int from inbound_alerts where status <> 'EXECUTED') as left,
              (select count(*)::int from orders where status in ('NEW', 'UNKNOWN')) as unknown_left`,
    );
    const filled = new Map<string, number>();
    for (const o of fake.orders) {
      const key = o.clientOrderId.split("-")[0];
      if (Number(o.executedQty) > 0) filled.set(key, (filled.get(key) ?? 0) + 1);
    }
    const doubled = [...filled.values()].filter((c) => c > 1).length;
    const sc = "exchange 5xx/timeouts on create";
    return [
      row(sc, "creates answered 5xx or timed out (UNKNOWN)", unknown),
      row(
        sc,
        "orders still NEW/UNKNOWN after reconciliation",
        s.unknown_left,
        "0",
        s.unknown_left === 0,
      ),
      row(sc, "alerts executed / not", `${s.executed} / ${s.left}`, `${n} / 0`, s.left === 0),
      row(sc, "keys filled twice", doubled, "0", doubled === 0),
    ];
  } finally {
    await exchange.close?.();
    await fake.close();
    await t.close();
  }
}
