/**
 * M restarts of a throwaway PostgreSQL cluster of the bench's own (initdb/pg_ctl from
 * /usr/lib/postgresql/15/bin, as a plain user through su when run as root, on a free loopback
 * port) under a `serve` with Telegram on, while alerts are posted. Measured: crashes of serve,
 * seconds from the database being back to the next 202, and whether any alert answered 503
 * ("not stored") was stored after all.
 */
import { startFakeExchange } from "../../tests/fakes/exchange.ts";
import { startFakeTelegram } from "../../tests/fakes/telegram.ts";
import { type ServeProcess, spawnServe } from "../../tests/helpers/process.ts";
import { openServerDb } from "../../db/server.ts";
import { pgCluster } from "../../tests/helpers/pg_cluster.ts";
import { alertBody, postAlert, type Row, row, sleep, TOKEN, waitUntil } from "./common.ts";

export async function pgRestartScenario(restarts: number): Promise<Row[]> {
  const pg = await pgCluster();
  const fake = startFakeExchange();
  const tg = await startFakeTelegram();
  const env = {
    DATABASE_URL: pg.url,
    PINE_WEBHOOK_TOKEN: TOKEN,
    EXCHANGE_API_URL: fake.url,
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_API_URL: tg.apiRoot,
    LOG_LEVEL: "info",
  };
  let serve: ServeProcess | undefined;
  let crashes = 0;
  const statuses = new Map<string, number>();
  let stop = false;
  let last202 = 0;
  try {
    serve = await spawnServe(env);
    const setup = await openServerDb({ url: pg.url, poolSize: 1 });
    await setup.query("insert into strategies (name) values ('chaos') on conflict do nothing");
    await setup.query("insert into telegram_chats (chat_id) values (42) on conflict do nothing");
    await setup.close();
    let exited = false;
    const watch = (s: ServeProcess) => s.child.status.then(() => (exited = true));
    watch(serve);
    let seq = 0;
    const poster = async () => {
      while (!stop) {
        const key = `pg-${seq++}`;
        const status = await postAlert(serve!.url, alertBody(key), 3_000);
        statuses.set(key, status);
        if (status === 202) last202 = Date.now();
        await sleep(10);
      }
    };
    const posters = Array.from({ length: 4 }, poster);
    const recoverS: number[] = [];
    for (let m = 0; m < restarts; m++) {
      await pg.restart();
      const back = Date.now();
      const recovered = await waitUntil(() => last202 > back || exited, 30_000, 50);
      if (exited) {
        crashes++;
        exited = false;
        serve = await spawnServe(env);
        watch(serve);
      } else if (recovered) recoverS.push((last202 - back) / 1000);
      await sleep(1_000);
    }
    stop = true;
    await Promise.all(posters);
    // A write queued behind a 503 used to commit when the database came back, seconds later.
    await sleep(15_000);
    const check = await openServerDb({ url: pg.url, poolSize: 1 });
    const answered503 = [...statuses].filter(([, s]) => s === 503).map(([k]) => k);
    const answered202 = [...statuses].filter(([, s]) => s === 202).map(([k]) => k);
    const stored = new Set(
      (await check.query<{ idempotency_key: string }>(
        "select idempotency_key from inbound_dedupe_keys",
      )).map((r) => r.idempotency_key),
    );
    await check.close();
    const stored503 = answered503.filter((k) => stored.has(k)).length;
    const lost202 = answered202.filter((k) => !stored.has(k)).length;
    recoverS.sort((a, b) => a - b);
    const max = recoverS.at(-1) ?? NaN;
    const s = "postgres restarts";
    return [
      row(s, "restarts / alerts posted", `${restarts} / ${statuses.size}`),
      row(s, "serve crashes", crashes, "0", crashes === 0),
      row(
        s,
        "s from database back to next 202: median / max",
        `${(recoverS[Math.floor(recoverS.length / 2)] ?? NaN).toFixed(2)} / ${max.toFixed(2)}`,
        "max ≤ 2",
        max <= 2,
      ),
      row(s, "answered 503", answered503.length),
      row(s, "answered 503 but stored", stored503, "0", stored503 === 0),
      row(s, "answered 202 but lost", lost202, "0", lost202 === 0),
      row(s, "Telegram messages delivered", tg.messages.length),
    ];
  } finally {
    stop = true;
    await serve?.stop("SIGKILL").catch(() => 0);
    await tg.close();
    await fake.close();
    await pg.destroy();
  }
}
