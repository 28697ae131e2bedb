/**
 * N kill -9s of a real `serve` (live mode, the fake exchange) during an alert storm. Each
 * unacknowledged post is re-sent with the same key, as TradingView would. Afterwards: every
 * acknowledged alert is stored, every acknowledged fresh entry traded once, and the ledger,
 * the positions and the exchange agree.
 */
import { testDb } from "../../tests/helpers/db.ts";
import { startFakeExchange } from "../../tests/fakes/exchange.ts";
import { type ServeProcess, spawnServe } from "../../tests/helpers/process.ts";
import { clientOrderIdPrefix } from "../../execution/plan.ts";
import { alertBody, postAlert, type Row, row, sleep, TOKEN, waitUntil } from "./common.ts";

export async function stormScenario(kills: number, alerts: number): Promise<Row[]> {
  const t = await testDb();
  const fake = startFakeExchange({ balances: { USDT: "1000000000" } });
  const env = {
    DATABASE_URL: t.url!,
    PINE_WEBHOOK_TOKEN: TOKEN,
    EXCHANGE_MODE: "live",
    EXCHANGE_API_URL: fake.url,
    BROKER_API_KEY: "chaos-key-0000",
    BROKER_API_SECRET: "chaos-secret-0000",
    LOG_LEVEL: "info",
  };
  let serve: ServeProcess | undefined;
  try {
    await t.db.query("insert into strategies (name) values ('chaos')");
    serve = await spawnServe(env);
    const acknowledged = new Set<string>();
    let next = 0;
    let restarting: Promise<void> | undefined;
    let killed = 0;
    const started = Date.now();
    const killEvery = Math.max(1, Math.floor(alerts / (kills + 1)));
    const killer = async () => {
      serve!.child.kill("SIGKILL");
      await serve!.stop("SIGKILL");
      killed++;
      serve = await spawnServe(env);
    };
    const worker = async () => {
      while (next < alerts && Date.now() - started < 600_000) {
        const key = `chaos-${next++}`;
        for (let attempt = 0; attempt < 200; attempt++) {
          if (restarting) await restarting;
          const status = await postAlert(serve!.url, alertBody(key));
          if (status === 202 || status === 200) {
            acknowledged.add(key);
            if (killed < kills && acknowledged.size >= killEvery * (killed + 1) && !restarting) {
              restarting = killer().finally(() => (restarting = undefined));
            }
            break;
          }
          await sleep(50);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const stormS = (Date.now() - started) / 1000;
    // Orders left NEW by a kill are given up only after 3 lookups over 60 s, then planned again.
    const settled = await waitUntil(
      async () => {
        const [r] = await t.db.query<{ n: number }>(
          `select count(*)::int as n from inbound_alerts
          where status in ('RECEIVED', 'PROCESSING')
             or exists (select 1 from orders o where o.alert_id = inbound_alerts.id
                          and o.status in ('NEW', 'UNKNOWN'))`,
        );
        return r.n === 0;
      },
      300_000,
      2_000,
    );
    const settleS = (Date.now() - started) / 1000 - stormS;

    const stored = new Set(
      (await t.db.query<{ idempotency_key: string }>(
        "select idempotency_key from inbound_dedupe_keys",
      )).map((r) => r.idempotency_key),
    );
    const lost = [...acknowledged].filter((k) => !stored.has(k)).length;
    const untraded = await t.db.query<{ idempotency_key: string; status: string }>(
      `select idempotency_key, status from inbound_alerts a
        where a.idempotency_key = any($1::text[]) and a.status not in ('EXECUTED', 'DUPLICATE')
          and coalesce(a.error, '') not like '%SIGNAL_MAX_AGE_S%'`,
      [[...acknowledged]],
    );
    const byKey = new Map<string, number>();
    for (const o of fake.orders) {
      const prefix = o.clientOrderId.split("-")[0];
      byKey.set(prefix, (byKey.get(prefix) ?? 0) + (Number(o.executedQty) > 0 ? 1 : 0));
    }
    const duplicates = [...byKey.values()].filter((n) => n > 1).length;
    const traded = new Set<string>();
    for (const k of acknowledged) {
      if ((byKey.get(await clientOrderIdPrefix(k)) ?? 0) > 0) traded.add(k);
    }
    const [sums] = await t.db.query<{ ledger: string; positions: string; replans: number }>(
      `select (select coalesce(sum(amount), 0) from transactions
                where account = 'main' and asset = 'BTC')::text as ledger,
              (select coalesce(sum(qty), 0) from positions where status = 'OPEN')::text as positions,
              (select count(*)::int from orders where reject_reason like 'Not found on the exchange%')
                as replans`,
    );
    const exchangeBtc = fake.balance("BTC");
    const agree = Number(sums.ledger) === Number(sums.positions) &&
      Math.abs(Number(sums.ledger) - exchangeBtc) < 1e-8;
    const s = "kill -9 storm";
    return [
      row(s, "kill -9s / alerts acknowledged", `${killed} / ${acknowledged.size}`),
      row(s, "storm s / settle s after it", `${stormS.toFixed(1)} / ${settleS.toFixed(1)}`),
      row(s, "all settled", settled ? "yes" : "no", "yes", settled),
      row(s, "acknowledged lost", lost, "0", lost === 0),
      row(s, "acknowledged fresh entries untraded", untraded.length, "0", untraded.length === 0),
      row(s, "acknowledged keys filled on the exchange", traded.size),
      row(s, "orders given up as never placed (planned again)", sums.replans),
      row(s, "keys with two filled orders", duplicates, "0", duplicates === 0),
      row(
        s,
        "BTC: ledger / positions / exchange",
        `${Number(sums.ledger)} / ${Number(sums.positions)} / ${Number(exchangeBtc)}`,
        "equal",
        agree,
      ),
    ];
  } finally {
    await serve?.stop("SIGKILL").catch(() => {});
    await fake.close();
    await t.close();
  }
}
