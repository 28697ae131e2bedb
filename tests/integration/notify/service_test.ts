/** The notifications part of `serve`: off without a token, delivering with one. */
import assert from "node:assert/strict";
import { componentFactories } from "../../../service/components.ts";
import type { ServiceContext } from "../../../runtime/context.ts";
import { startService } from "../../../service/service.ts";
import { systemClock } from "../../../core/clock.ts";
import { loadConfig } from "../../../core/config.ts";
import { logger } from "../../../core/log.ts";
import { notifyComponent } from "../../../notify/component.ts";
import { enqueueNotification } from "../../../notify/enqueue.ts";
import { startFakeTelegram } from "../../fakes/telegram.ts";
import { testDb } from "../../helpers/db.ts";
import { addChat, outboxRows } from "../../helpers/outbox.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  name: "serve delivers notifications when TELEGRAM_BOT_TOKEN is set and says so when not",
  ...serviceTest,
  fn: async (ctx) => {
    const t = await testDb();
    const tg = await startFakeTelegram();
    try {
      assert.ok(componentFactories.includes(notifyComponent), "registered in app/components.ts");

      await ctx.step("without a token nothing starts and describe() says why", async () => {
        const c = await notifyComponent({
          config: loadConfig({}),
          db: t.db,
          clock: systemClock,
          log: logger("test"),
          signal: new AbortController().signal,
        } as unknown as ServiceContext);
        assert.equal(c.start, undefined);
        assert.match(c.describe!(), /off: TELEGRAM_BOT_TOKEN is not set.*stay queued/);
      });

      await ctx.step(
        "with a token, queued rows go out at start and new ones on NOTIFY",
        async () => {
          await addChat(t.db, 7);
          await enqueueNotification(t.db, {
            severity: "INFO",
            kind: "order_placed",
            text: "queued while down",
            dedupeKey: "before",
          });
          const config = loadConfig({
            TELEGRAM_BOT_TOKEN: tg.token,
            TELEGRAM_API_URL: tg.apiRoot,
            HTTP_PORT: "0",
          });
          const service = await startService(config, { db: t.db, factories: [notifyComponent] });
          try {
            await tg.waitForMessages(1);
            await enqueueNotification(t.db, {
              severity: "WARN",
              kind: "order_placed",
              text: "while up",
              dedupeKey: "after",
            });
            await tg.waitForMessages(2);
          } finally {
            await service.stop();
          }
          assert.deepEqual(tg.messages.map((m) => m.text.split("\n").slice(1).join("\n")), [
            "queued while down",
            "while up",
          ]);
          assert.ok((await outboxRows(t.db)).every((r) => r.status === "SENT"));
        },
      );
    } finally {
      await tg.close();
      await t.close();
    }
  },
});
