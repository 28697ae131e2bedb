/**
 * An acknowledged alert survives a kill -9 of `serve` between the 202 and execution, and the
 * next start hands it to execution again. Also: the component without a token.
 */
import assert from "node:assert/strict";
import { testDb } from "../../helpers/db.ts";
import { openEmbeddedDb } from "../../../db/embedded.ts";
import type { Db } from "../../../db/db.ts";
import { startService } from "../../../service/service.ts";
import { inboundComponent } from "../../../signals/webhook.ts";
import { loadConfig } from "../../../core/config.ts";
import { insertStrategy, serviceTest } from "../../helpers/fixtures.ts";

const TOKEN = "recovery-token-0123456789abcdef01234567";
const root = new URL("../../../", import.meta.url).pathname;

async function withData<T>(
  t: Awaited<ReturnType<typeof testDb>>,
  fn: (db: Db) => Promise<T>,
): Promise<T> {
  if (t.kind === "server") return await fn(t.db);
  const db = await openEmbeddedDb({ dataDir: t.dataDir });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Starts `main.ts serve` and resolves once it logs that it is ready. */
async function spawnServe(env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-cron", `${root}main.ts`, "serve"],
    env: { ...env, HTTP_PORT: "0", PINE_WEBHOOK_TOKEN: TOKEN, LOG_LEVEL: "info" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let url: string | undefined;
  // A start that never gets ready fails the test instead of hanging it.
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  while (!url) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`serve exited before ready:\n${lines.join("\n")}`);
    buffered += value;
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const line of parts) {
      lines.push(line);
      if (line.includes("Ready on")) url ??= JSON.parse(line).properties?.url;
    }
  }
  clearTimeout(timer);
  // Keep draining so the child never blocks on a full pipe.
  const drained = (async () => {
    while (true) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: "" }));
      if (done) return;
      lines.push(value);
    }
  })();
  return { child, url, lines, drained };
}

Deno.test({
  name: "an alert acknowledged before a kill -9 is still RECEIVED and handed over at next start",
  ...serviceTest,
  async fn() {
    const t = await testDb({ onDisk: true });
    try {
      await insertStrategy(t.db, "trend");
      if (t.kind === "embedded") await t.db.close();
      const env: Record<string, string> = t.url ? { DATABASE_URL: t.url } : {
        DATA_DIR: t.dataDir!,
      };

      const first = await spawnServe(env);
      const res = await fetch(`${first.url}/alerts/pine`, {
        method: "POST",
        headers: { "x-auth-token": TOKEN, "content-type": "application/json" },
        body: JSON.stringify({ symbol: "BTC/USDT", side: "buy", strategy: "trend", qty: "0.01" }),
      });
      assert.equal(res.status, 202);
      const { alert_id } = await res.json();
      first.child.kill("SIGKILL");
      await first.child.status;
      await first.drained;

      const [row] = await withData(
        t,
        (db) =>
          db.query<{ status: string }>("select status from inbound_alerts where id = $1", [
            alert_id,
          ]),
      );
      assert.equal(row.status, "RECEIVED");

      const second = await spawnServe(env);
      second.child.kill("SIGTERM");
      await second.child.status;
      await second.drained;
      const log = second.lines.join("\n");
      assert.match(log, /1 received alert\(s\) handed to execution/);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "at start the inbound component queues RECEIVED alerts, and without a token no route",
  ...serviceTest,
  async fn() {
    const t = await testDb();
    try {
      const ids = await t.db.query<{ id: number }>(
        `insert into inbound_alerts (source, raw_body, status)
         values ('pine', '{}', 'RECEIVED'), ('pine', '{}', 'EXECUTED'), ('csv', 'x', 'RECEIVED')
         returning id, status`,
      );
      const config = loadConfig({ HTTP_PORT: "0", LOG_LEVEL: "error" });
      const service = await startService(config, { db: t.db, factories: [inboundComponent] });
      try {
        assert.deepEqual(service.ctx.queues.decisions.drain(), [ids[0].id, ids[2].id]);
        const res = await fetch(`${service.url}/alerts/pine`, { method: "POST", body: "{}" });
        assert.equal(res.status, 404);
        await res.body?.cancel();
        const c = await inboundComponent(service.ctx);
        assert.match(c.describe?.() ?? "", /webhook disabled: PINE_WEBHOOK_TOKEN is unset/);
      } finally {
        await service.stop();
      }
    } finally {
      await t.close();
    }
  },
});
