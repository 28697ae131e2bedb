/**
 * The floor for bench/webhook.ts: a bare durable webhook. Deno.serve, the token checked, one
 * postgres.js INSERT per request (deduplicated on the key, autocommit), answered after the
 * commit. No validation, mapping, hashing, queue or log: what any durable webhook must pay.
 *   deno run -A bench/webhook_baseline.ts DATABASE_URL TOKEN   (prints {"url": …} when ready)
 */
import postgres from "postgres";
import { limits } from "../core/limits.ts";

const [databaseUrl, token] = Deno.args;
const sql = postgres(databaseUrl, { max: limits.dbPoolSize, onnotice: () => {} });
await sql`create table if not exists bench_baseline_alerts (
  id bigserial primary key,
  idempotency_key text not null unique,
  body jsonb not null,
  received_at timestamptz not null default now()
)`;

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` })),
}, async (req) => {
  const text = await req.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    return Response.json({ error: "not JSON" }, { status: 400 });
  }
  if (body.auth_token !== token) return Response.json({ error: "token" }, { status: 401 });
  const [row] = await sql`insert into bench_baseline_alerts (idempotency_key, body)
    values (${String(body.idempotency_key)}, ${text}::jsonb)
    on conflict (idempotency_key) do nothing returning id`;
  return row
    ? Response.json({ alert_id: row.id, status: "accepted" }, { status: 202 })
    : Response.json({ status: "duplicate" }, { status: 200 });
});

Deno.addSignalListener("SIGTERM", async () => {
  await server.shutdown();
  await sql.end();
  Deno.exit(0);
});
