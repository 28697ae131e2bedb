/**
 * `serve` survives PostgreSQL restarts: a real process on a cluster of its own, restarted a few
 * times while alerts are posted (Telegram on, as in the fault run that found the driver bug:
 * postgres.js 3.4.9's nextWrite on a closed socket, porsager/postgres #1154 / #1208). The
 * process never dies and accepts alerts again after each restart. The seconds from the database
 * being back to the next 202 are printed (measured; bench/chaos.ts runs 20 restarts).
 */
import assert from "node:assert/strict";
import { canMakeCluster, pgCluster } from "../../helpers/pg_cluster.ts";
import { spawnServe } from "../../helpers/process.ts";
import { startFakeExchange } from "../../fakes/exchange.ts";
import { startFakeTelegram } from "../../fakes/telegram.ts";
import { openServerDb } from "../../../db/server.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";

const TOKEN = "restart-token-0123456789abcdef012345";
// A few in the suite; TEST_PG_RESTARTS=20 for a longer run by hand.
const RESTARTS = Number(Deno.env.get("TEST_PG_RESTARTS")) || 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function postAlert(url: string, key: string): Promise<number> {
  try {
    const res = await fetch(`${url}/alerts/pine`, {
      method: "POST",
      headers: { "x-auth-token": TOKEN, "content-type": "application/json" },
      body: JSON.stringify({
        symbol: "BTC/USDT",
        side: "buy",
        strategy: "r",
        qty: "0.001",
        idempotency_key: key,
      }),
      signal: AbortSignal.timeout(3_000),
    });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

Deno.test({
  name: "serve survives PostgreSQL restarts and accepts alerts again after each",
  ignore: !canMakeCluster(),
  ...serviceTest,
  async fn() {
    const pg = await pgCluster();
    const fake = startFakeExchange();
    const tg = await startFakeTelegram();
    const serve = await spawnServe({
      DATABASE_URL: pg.url,
      PINE_WEBHOOK_TOKEN: TOKEN,
      EXCHANGE_API_URL: fake.url,
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_URL: tg.apiRoot,
      LOG_LEVEL: "info",
    });
    let exited = false;
    serve.child.status.then(() => (exited = true));
    let stop = false;
    let last202 = 0;
    let seq = 0;
    try {
      const setup = await openServerDb({ url: pg.url, poolSize: 1 });
      await insertStrategy(setup, "r");
      await setup.query("insert into telegram_chats (chat_id) values (42)");
      await setup.close();
      const poster = async () => {
        // Bounded: stops with the test, and at most 20,000 posts.
        while (!stop && seq < 20_000) {
          if (await postAlert(serve.url, `r-${seq++}`) === 202) last202 = Date.now();
          await sleep(10);
        }
      };
      const posters = Array.from({ length: 3 }, poster);
      const recovery: number[] = [];
      for (let m = 0; m < RESTARTS && !exited; m++) {
        await pg.restart();
        const back = Date.now();
        for (let i = 0; i < 300 && last202 <= back && !exited; i++) await sleep(50);
        assert.ok(!exited, `serve died at restart ${m + 1}:\n${serve.lines.slice(-15).join("\n")}`);
        assert.ok(last202 > back, `no alert accepted within 15 s of restart ${m + 1}`);
        recovery.push((last202 - back) / 1000);
        await sleep(500);
      }
      stop = true;
      await Promise.all(posters);
      assert.ok(!exited, "serve died");
      console.log(`seconds from the database back to the next 202: ${recovery.join(", ")}`);
    } finally {
      stop = true;
      await serve.stop("SIGKILL").catch(() => 0);
      await tg.close();
      await fake.close();
      await pg.destroy();
    }
  },
});
