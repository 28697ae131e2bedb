/**
 * Outbox benchmark on a server database (TEST_DATABASE_URL, a throwaway database is created):
 *  1. enqueue → delivered latency through grammY to the local fake Bot API, the worker woken
 *     by LISTEN/NOTIFY (poll interval raised to 60 s so only the wake-up counts);
 *  2. time to drain 10,000 queued rows with a no-op sender, rate limiting off;
 *  3. the same with the real grammY sender to the fake.
 * Run: TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test deno run -A bench/outbox.ts
 */
import { systemClock } from "../core/clock.ts";
import { logger } from "../core/log.ts";
import { enqueueNotification } from "../notify/enqueue.ts";
import { type Sender, telegramSender } from "../notify/telegram.ts";
import { outboxWorker } from "../notify/worker.ts";
import { startFakeTelegram } from "../tests/fakes/telegram.ts";
import { serverUrl, testDb } from "../tests/helpers/db.ts";

const LATENCY_SAMPLES = Number(Deno.env.get("BENCH_SAMPLES") ?? 1000);
const WARMUP = 50;
const DRAIN_ROWS = 10_000;
const DRAIN_CHATS = 10;

if (!serverUrl()) {
  console.error(
    "Set TEST_DATABASE_URL to a PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/test)",
  );
  Deno.exit(2);
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const log = logger("bench");

async function latency() {
  const t = await testDb();
  const tg = await startFakeTelegram();
  const controller = new AbortController();
  try {
    await t.db.query("insert into telegram_chats (chat_id) values (1)");
    const worker = outboxWorker({
      db: t.db,
      sender: telegramSender({ token: tg.token, apiUrl: tg.apiRoot }),
      clock: systemClock,
      log,
      perChatPerS: 0,
      globalPerS: 0,
      pollMs: 60_000,
    });
    const { stopped } = await worker.start(controller.signal);
    const samples: number[] = [];
    for (let i = 0; i < WARMUP + LATENCY_SAMPLES; i++) {
      const delivered = Promise.withResolvers<void>();
      tg.onMessage = () => delivered.resolve();
      const t0 = performance.now();
      await enqueueNotification(t.db, {
        severity: "INFO",
        kind: "order_placed",
        text: `latency ${i}`,
        dedupeKey: `lat-${i}`,
      });
      await delivered.promise;
      if (i >= WARMUP) samples.push(performance.now() - t0);
      // Let the worker record SENT and go idle, so each sample starts from a sleeping worker.
      await new Promise((r) => setTimeout(r, 2));
    }
    controller.abort();
    await stopped;
    samples.sort((a, b) => a - b);
    return {
      p50: pct(samples, 50),
      p99: pct(samples, 99),
      max: samples[samples.length - 1],
      n: samples.length,
    };
  } finally {
    controller.abort();
    await tg.close();
    await t.close();
  }
}

async function drain(name: string, makeSender: (apiRoot: string, token: string) => Sender) {
  const t = await testDb();
  const tg = await startFakeTelegram();
  try {
    await t.db.query(
      "insert into telegram_chats (chat_id) select generate_series(1, $1::int)",
      [DRAIN_CHATS],
    );
    await t.db.query(
      `select enqueue_notification('INFO', 'bench', 'drain message ' || i, 'd' || i)
         from generate_series(1, $1::int) i`,
      [DRAIN_ROWS / DRAIN_CHATS],
    );
    await t.db.exec("vacuum analyze notification_outbox");
    const worker = outboxWorker({
      db: t.db,
      sender: makeSender(tg.apiRoot, tg.token),
      clock: systemClock,
      log,
      perChatPerS: 0,
      globalPerS: 0,
    });
    const t0 = performance.now();
    const r = await worker.drain();
    const ms = performance.now() - t0;
    const [left] = await t.db.query<{ n: number }>(
      "select count(*)::int as n from notification_outbox where status <> 'SENT'",
    );
    if (r.sent !== DRAIN_ROWS || left.n !== 0) {
      throw new Error(`${name}: sent ${r.sent} of ${DRAIN_ROWS}, ${left.n} not SENT`);
    }
    return { ms, perS: DRAIN_ROWS / (ms / 1000) };
  } finally {
    await tg.close();
    await t.close();
  }
}

const lat = await latency();
const noop = await drain("noop", () => (_chat, _html) => Promise.resolve(1));
const grammy = await drain(
  "grammy",
  (apiRoot, token) => telegramSender({ token, apiUrl: apiRoot }),
);

const f = (n: number) => n.toFixed(2);
console.log("outbox benchmark (server PostgreSQL, loopback fake Bot API, rate limiting off)");
console.log("metric                                      value");
console.log(`enqueue→delivered p50 (LISTEN, grammY)      ${f(lat.p50)} ms`);
console.log(`enqueue→delivered p99                       ${f(lat.p99)} ms`);
console.log(`enqueue→delivered max (n=${lat.n})            ${f(lat.max)} ms`);
console.log(
  `drain ${DRAIN_ROWS} rows, no-op sender          ${f(noop.ms)} ms (${
    Math.round(noop.perS)
  } rows/s)`,
);
console.log(
  `drain ${DRAIN_ROWS} rows, grammY → fake         ${f(grammy.ms)} ms (${
    Math.round(grammy.perS)
  } rows/s)`,
);
console.log(JSON.stringify({
  bench: "outbox",
  latency_p50_ms: +f(lat.p50),
  latency_p99_ms: +f(lat.p99),
  latency_max_ms: +f(lat.max),
  latency_samples: lat.n,
  drain_rows: DRAIN_ROWS,
  drain_chats: DRAIN_CHATS,
  drain_noop_ms: +f(noop.ms),
  drain_grammy_ms: +f(grammy.ms),
}));
