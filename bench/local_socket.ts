/**
 * The embedded database's local socket (db/local_server.ts):
 *  1. round trip of one query from a CLI-side client through the serve's socket;
 *  2. how long the service's own statements wait while a client runs short transactions
 *     (3 statements each) back to back: the service's worst wait is bounded by one transaction;
 *  3. the time the session is held while a data-dir dump (backup) is taken.
 * Run: deno run -A bench/local_socket.ts
 */
import { openEmbeddedDb } from "../db/embedded.ts";
import { connectLocalSocket } from "../db/local_client.ts";
import { localSocketPath } from "../db/local_wire.ts";
import { migrate } from "../db/mod.ts";

const SAMPLES = Number(Deno.env.get("BENCH_SAMPLES") ?? 500);
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return {
    p50: +pct(s, 50).toFixed(2),
    p99: +pct(s, 99).toFixed(2),
    max: +s[s.length - 1].toFixed(2),
  };
};

const dir = await Deno.makeTempDir({ prefix: "pgsl-bench-local-" });
const service = await openEmbeddedDb({ dataDir: dir, serveLocal: true });
try {
  await migrate(service);
  const client = (await connectLocalSocket(localSocketPath(dir)))!;
  const rt: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    await client.query("select count(*) from telegram_chats");
    rt.push(performance.now() - t0);
  }
  let stop = false;
  let txs = 0;
  const load = (async () => {
    while (!stop) {
      await client.transaction(async (tx) => {
        await tx.query("insert into telegram_chats (chat_id) values ($1) on conflict do nothing", [
          txs,
        ]);
        await tx.query("select count(*) from telegram_chats");
        await tx.query("select 1");
      });
      txs++;
    }
  })();
  const wait: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    await service.query("select 1");
    wait.push(performance.now() - t0);
    // Let the client's transactions run between samples, as the service's loops do.
    await new Promise((r) => setTimeout(r, 2));
  }
  stop = true;
  await load;
  const t0 = performance.now();
  const dump = await service.dumpDataDir!();
  const dumpMs = performance.now() - t0;
  await client.close();
  const rows = [
    { what: "client query round trip (ms)", ...stats(rt) },
    { what: `service statement wait under ${txs} client txs (ms)`, ...stats(wait) },
  ];
  console.table(rows);
  console.log(`data-dir dump: ${dumpMs.toFixed(0)} ms, ${dump.size} bytes`);
  console.log(
    JSON.stringify({
      bench: "local_socket",
      samples: SAMPLES,
      roundTrip: stats(rt),
      serviceWait: stats(wait),
      clientTxs: txs,
      dumpMs: Math.round(dumpMs),
      dumpBytes: dump.size,
    }),
  );
} finally {
  await service.close();
  await Deno.remove(dir, { recursive: true });
}
