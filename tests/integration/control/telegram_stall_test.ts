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

Deno.test({
  name: "a /pause sent after /status commands waiting on a stalled exchange takes effect at once",
  ...serviceTest,
  fn: () =>
    withBot(async ({ db, fake, service, tg, waitFor }) => {
      const buy = await insertAlert(db, { idempotencyKey: "stall-1", qty: "0.002" });
      service.ctx.queues.decisions.push(buy);
      await waitFor("select status as v from positions", "OPEN");
      const gates = [fake.hold("GET ticker/24hr"), fake.hold("GET ticker/price")];
      try {
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
      } finally {
        for (const g of gates) g.release();
      }
    }),
});
