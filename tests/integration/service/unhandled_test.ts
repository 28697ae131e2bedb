/**
 * No silent failures: an error nobody awaited inside serve reaches the operator as one
 * CRITICAL (not only the log), deduplicated, and the service keeps answering.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../../core/config.ts";
import { startService } from "../../../service/service.ts";
import type { Component } from "../../../runtime/context.ts";
import { testDb } from "../../helpers/db.ts";
import { expectNotification, serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  ...serviceTest,
  name: "an unhandled rejection inside serve is one CRITICAL and the service keeps running",
  fn: async () => {
    await using t = await testDb();
    await t.db.query("insert into telegram_chats (chat_id) values (42)");
    let fire: () => void = () => {};
    const careless = (): Promise<Component> =>
      Promise.resolve({
        name: "careless",
        start() {
          fire = () => {
            // Nobody awaits these.
            Promise.reject(new Error("lost promise in a part of serve"));
            Promise.reject(new Error("lost promise in a part of serve"));
          };
          return Promise.resolve();
        },
      });
    const service = await startService(loadConfig({ HTTP_PORT: "0" }), {
      db: t.db,
      factories: [careless],
    });
    try {
      fire();
      for (let i = 0; i < 100; i++) {
        const rows = await t.db.query("select 1 from notification_outbox");
        if (rows.length > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const [crit] = await expectNotification(t.db, "unhandled_error", {
        severity: "CRITICAL",
        count: 1,
      });
      assert.match(crit.text, /lost promise in a part of serve.*keeps running/);
      const health = await fetch(`${service.url}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
    } finally {
      await service.stop();
    }
  },
});
