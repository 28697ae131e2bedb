/**
 * The embedded database while `serve` runs: CLI commands from other processes go through the
 * service's local socket (db/local_server.ts) while alerts are being posted; nothing is lost,
 * and a CLI killed in the middle of a transaction leaves nothing behind and the service unharmed.
 */
import assert from "node:assert/strict";
import { runCli, spawnServe } from "../helpers/process.ts";
import { openEmbeddedDb } from "../../db/embedded.ts";
import { migrate } from "../../db/mod.ts";
import { localSocketPath } from "../../db/local_wire.ts";
import { serviceTest } from "../helpers/fixtures.ts";

const TOKEN = "e2e-webhook-token-0123456789abcdefghij";
const ALERTS = 30;

Deno.test({
  name: "CLI commands work against a running serve on the embedded database",
  ...serviceTest,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "pgsl-local-" });
    try {
      const seed = await openEmbeddedDb({ dataDir });
      await migrate(seed);
      await seed.query("insert into strategies (name, risk_pct) values ('e2e', 1)");
      await seed.close();
      const env = { DATA_DIR: dataDir, PINE_WEBHOOK_TOKEN: TOKEN };
      const serve = await spawnServe(env);
      let posted = 0;
      let accepted = 0;
      try {
        const info = await Deno.stat(localSocketPath(dataDir));
        assert.equal(info.mode! & 0o777, 0o600, "the socket is for its user only");
        assert.equal((await Deno.stat(`${dataDir}/run`)).mode! & 0o777, 0o700);

        const alerts = (async () => {
          for (let i = 0; i < ALERTS; i++) {
            const res = await fetch(`${serve.url}/alerts/pine`, {
              method: "POST",
              headers: { "content-type": "text/plain" },
              body: JSON.stringify({
                symbol: "BINANCE:BTCUSDT",
                side: i % 2 ? "sell" : "buy",
                strategy: "e2e",
                qty: "0.001",
                idempotency_key: `local-${i}`,
                auth_token: TOKEN,
              }),
            });
            await res.body?.cancel();
            posted++;
            if (res.status === 202) accepted++;
          }
        })();
        // Awaited below; a failure elsewhere first must not leave it unhandled.
        alerts.catch(() => {});
        const commands = [
          ["chats", "add", "4242", "--label", "ops"],
          ["orders", "list"],
          ["positions"],
          ["doctor"],
          ["chats", "list"],
          ["backup", "--out", `${dataDir}-backups`],
        ];
        const results = await Promise.all(commands.map((args) => runCli(args, env)));
        results.forEach((r, i) =>
          assert.equal(r.code, 0, `${commands[i].join(" ")}:\n${r.stdout}\n${r.stderr}`)
        );
        assert.match(results[3].stdout, /embedded/);

        // A client killed while its transaction is open: the service rolls it back.
        const killed = await killedMidTransaction(dataDir);
        assert.equal(killed, 0, "the killed client's insert was rolled back");
        // A client that holds a transaction open too long is rolled back, not waited for.
        const held = await heldTransaction(dataDir);
        assert.match(held, /Rolled back/);
        await alerts;
        const after = await runCli(["chats", "list"], env);
        assert.equal(after.code, 0, after.stderr);
        assert.match(after.stdout, /4242/, "the chat added through serve is listed");
        assert.doesNotMatch(after.stdout, /999001|999002/);
        // The backup taken through the running serve restores into a fresh DATA_DIR.
        const [file] = [...Deno.readDirSync(`${dataDir}-backups`)].map((e) => e.name);
        assert.match(file, /^pg-solo-lite-.*\.tar\.gz$/);
        const restored = await runCli(["restore", `${dataDir}-backups/${file}`], {
          DATA_DIR: `${dataDir}-restored`,
        });
        assert.equal(restored.code, 0, restored.stderr);
        const health = await fetch(`${serve.url}/healthz`);
        assert.equal(health.status, 200, "the service still answers");
        await health.body?.cancel();
      } finally {
        assert.equal(await serve.stop(), 0, serve.lines.join("\n"));
      }
      assert.equal(posted, ALERTS);
      const db = await openEmbeddedDb({ dataDir });
      try {
        const [{ n }] = await db.query<{ n: number }>(
          "select count(*)::int as n from inbound_alerts",
        );
        assert.equal(n, accepted, "every accepted alert is stored");
        assert.equal(accepted, ALERTS);
        const chats = await db.query("select chat_id from telegram_chats where chat_id = 4242");
        assert.equal(chats.length, 1);
      } finally {
        await db.close();
      }
    } finally {
      for (const d of [dataDir, `${dataDir}-backups`, `${dataDir}-restored`]) {
        await Deno.remove(d, { recursive: true }).catch(() => {});
      }
    }
  },
});

const CLIENT = new URL("../../db/local_client.ts", import.meta.url).href;

/** Runs a child that inserts a chat in a transaction, says so, and waits to be killed. */
async function killedMidTransaction(dataDir: string): Promise<number> {
  const code = `
    const { connectLocalSocket } = await import(${JSON.stringify(CLIENT)});
    const db = await connectLocalSocket(${JSON.stringify(localSocketPath(dataDir))});
    await db.transaction(async (tx) => {
      await tx.query("insert into telegram_chats (chat_id, label) values (999001, 'killed')");
      console.log("inside");
      await new Promise(() => {});
    });`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  assert.match(value ?? "", /inside/);
  child.kill("SIGKILL");
  await child.status;
  await reader.cancel();
  const { connectLocalSocket } = await import("../../db/local_client.ts");
  const db = (await connectLocalSocket(localSocketPath(dataDir)))!;
  try {
    const rows = await db.query("select 1 from telegram_chats where chat_id = 999001");
    return rows.length;
  } finally {
    await db.close();
  }
}

/** Opens a transaction and sleeps past the bound; returns the error the next statement gets. */
async function heldTransaction(dataDir: string): Promise<string> {
  const { connectLocalSocket } = await import("../../db/local_client.ts");
  const db = (await connectLocalSocket(localSocketPath(dataDir)))!;
  try {
    await db.transaction(async (tx) => {
      await tx.query("insert into telegram_chats (chat_id, label) values (999002, 'held')");
      await new Promise((r) => setTimeout(r, 1_500));
      await tx.query("select 1");
    });
    return "committed";
  } catch (error) {
    return (error as Error).message;
  } finally {
    await db.close();
  }
}
