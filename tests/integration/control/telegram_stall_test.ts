/**
 * A stalled exchange never holds up an operator's /pause: read-only commands (/status and the
 * lists) are answered beside the polling, and their prices are looked up together, each bounded
 * by limits.controlPriceTimeoutMs, so /status still answers ("no price") while the exchange
 * stalls. Through the real grammY client against the fake Bot API and a real `serve`'s
 * components against the fake exchange.
 */
import assert from "node:assert/strict";
import { serviceTest } from "../../helpers/fixtures.ts";
import { insertAlert } from "../../helpers/execution.ts";
import { ADMIN, withBot } from "./telegram_helpers.ts";
import { limits } from "../../../core/limits.ts";

/** The price bound, shortened for the tests below (restored after each). */
const mutable = limits as unknown as { controlPriceTimeoutMs: number };
async function withPriceBound(ms: number, fn: () => Promise<void>) {
  const saved = mutable.controlPriceTimeoutMs;
  mutable.controlPriceTimeoutMs = ms;
  try {
    await fn();
  } finally {
    mutable.controlPriceTimeoutMs = saved;
  }
}

/** Polls the database until an operator pause is active; the ms it took, or undefined. */
async function pausedWithin(db: Parameters<Parameters<typeof withBot>[0]>[0]["db"], ms: number) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const [r] = await db.query<{ n: number }>(
      "select count(*)::int as n from trading_pauses where lifted_at is null",
    );
    if (r.n > 0) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

type World = Parameters<Parameters<typeof withBot>[0]>[0];

/** A service with one open position whose exchange then stalls on every price; released after. */
function withStalledPrices(key: string, fn: (w: World) => Promise<void>) {
  return withBot(async (w) => {
    const buy = await insertAlert(w.db, { idempotencyKey: key, qty: "0.002" });
    w.service.ctx.queues.decisions.push(buy);
    await w.waitFor("select status as v from positions", "OPEN");
    const gates = [w.fake.hold("GET ticker/24hr"), w.fake.hold("GET ticker/price")];
    try {
      await fn(w);
    } finally {
      for (const g of gates) g.release();
    }
  });
}

Deno.test({
  name: "a /pause sent after /status commands waiting on a stalled exchange takes effect at once",
  ...serviceTest,
  fn: () =>
    withStalledPrices("stall-1", async ({ db, tg }) => {
      for (let i = 0; i < 3; i++) {
        tg.sendUpdate({ fromId: ADMIN, chatId: ADMIN, text: "/status" });
      }
      tg.sendUpdate({ fromId: ADMIN, chatId: ADMIN, text: "/pause exchange is acting up" });
      const t0 = Date.now();
      let pausedAfterMs: number | undefined;
      for (let i = 0; i < 200 && pausedAfterMs === undefined; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const [r] = await db.query<{ n: number }>(
          "select count(*)::int as n from trading_pauses where lifted_at is null",
        );
        if (r.n > 0) pausedAfterMs = Date.now() - t0;
      }
      assert.ok(
        pausedAfterMs !== undefined && pausedAfterMs < 1_500,
        `the /pause took effect after ${pausedAfterMs} ms`,
      );
      // The /status replies still come, without a price, while the exchange stalls.
      let replies: string[] = [];
      for (let i = 0; i < 200; i++) {
        replies = tg.messages.filter((m) => m.chatId === ADMIN && m.text.includes("no price"))
          .map((m) => m.text);
        if (replies.length >= 3) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(replies.length, 3, "each /status answered");
    }),
});

Deno.test({
  name: "a /status answered after the /pause confirmation shows the pause",
  ...serviceTest,
  fn: () =>
    withStalledPrices("stall-2", async ({ tg }) => {
      tg.sendUpdate({ fromId: ADMIN, chatId: ADMIN, text: "/status" });
      tg.sendUpdate({ fromId: ADMIN, chatId: ADMIN, text: "/pause exchange is acting up" });
      await tg.waitFor(() =>
        tg.messages.some((m) => m.chatId === ADMIN && m.text.includes("no price"))
      );
      const texts = tg.messages.filter((m) => m.chatId === ADMIN).map((m) => m.text);
      const pausedAt = texts.findIndex((t) => /paused \(/.test(t));
      assert.ok(pausedAt >= 0, texts.join("\n---\n"));
      const later = texts.slice(pausedAt + 1);
      assert.ok(later.length > 0, "the /status came after the confirmation");
      assert.ok(!later.some((t) => t.includes("entries running")), texts.join("\n---\n"));
    }),
});

Deno.test({
  name: "past 20 reads waiting, a read is answered busy and a /pause still takes effect at once",
  ...serviceTest,
  fn: () =>
    withPriceBound(400, () =>
      withStalledPrices("stall-3", async ({ db, tg }) => {
        for (let i = 0; i < 25; i++) {
          tg.sendUpdate({ fromId: ADMIN, chatId: ADMIN, text: "/status" });
        }
        tg.sendUpdate({ fromId: ADMIN, chatId: ADMIN, text: "/pause now" });
        const ms = await pausedWithin(db, 5_000);
        assert.ok(ms !== undefined && ms < 1_500, `the /pause took effect after ${ms} ms`);
        await tg.waitFor(() =>
          tg.messages.some((m) => m.chatId === ADMIN && m.text.startsWith("Busy:"))
        );
      })),
});

Deno.test({
  name: "a stop answers the reads still queued before it confirms their updates",
  ...serviceTest,
  fn: () =>
    withPriceBound(400, () =>
      withStalledPrices("stall-4", async ({ service, tg }) => {
        for (let i = 0; i < 3; i++) {
          tg.sendUpdate({ fromId: ADMIN, chatId: ADMIN, text: "/status" });
        }
        await tg.waitFor(() => tg.pendingUpdates === 0);
        await new Promise((r) => setTimeout(r, 200)); // handed to the lane
        await service.stop();
        const answered = tg.messages.filter((m) =>
          m.chatId === ADMIN && m.text.includes("no price")
        );
        assert.equal(answered.length, 3, "every queued read answered before the stop returned");
      })),
});
