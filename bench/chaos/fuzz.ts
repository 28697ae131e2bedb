/**
 * A webhook fuzz against a real `serve`: mutated alert bodies (flipped and dropped bytes,
 * truncation, escapes with lone surrogates, deep nesting, huge numbers, wrong types, odd
 * content types, bodies over the size limit). Every answer must be a 2xx or 4xx; a 5xx or a
 * dead process is a failure. Seeded, so a failing body can be found again.
 */
import { testDb } from "../../tests/helpers/db.ts";
import { startFakeExchange } from "../../tests/fakes/exchange.ts";
import { spawnServe } from "../../tests/helpers/process.ts";
import { alertBody, type Row, row, rssMb, TOKEN } from "./common.ts";

/** mulberry32: a small seeded generator. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const CONTENT_TYPES = [
  "application/json",
  "text/plain",
  "text/plain; charset=utf-8",
  "application/json; charset=latin1",
  "image/png",
  "application/x-www-form-urlencoded",
  "",
];
const ODD = [
  "\\ud800",
  "\\udfff",
  "\\u0000",
  "\\uffff",
  "\u0000",
  "\ud83d\ude80",
  '"',
  "\\",
  "{",
  "]",
  "1e999",
  "-0",
  "null",
  "true",
  "[".repeat(5000),
  "9".repeat(400),
  "\u202e",
];

function mutate(r: () => number, i: number): { body: string; type: string } {
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)];
  let body = alertBody(`fuzz-${i}`, r() < 0.3 ? { auth_token: TOKEN } : {});
  const ops = 1 + Math.floor(r() * 4);
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(r() * body.length);
    switch (Math.floor(r() * 7)) {
      case 0:
        body = body.slice(0, at) + pick(ODD) + body.slice(at);
        break;
      case 1:
        body = body.slice(0, at) + body.slice(at + 1 + Math.floor(r() * 5));
        break;
      case 2:
        body = body.slice(0, at);
        break;
      case 3:
        body = body.slice(0, at) + String.fromCharCode(Math.floor(r() * 0x10000)) +
          body.slice(at + 1);
        break;
      case 4:
        body = JSON.stringify({ x: JSON.parse(alertBody(`fuzz-${i}`)), [pick(ODD)]: pick(ODD) });
        break;
      case 5:
        body = body.replace(
          /"qty":"[^"]*"/,
          `"qty":${pick(["1e999", "-1", "[]", "{}", '"0"', "null"])}`,
        );
        break;
      default:
        if (r() < 0.05) body = body + " ".repeat(70 * 1024);
    }
  }
  return { body, type: pick(CONTENT_TYPES) };
}

export async function fuzzScenario(bodies: number, seed = 15): Promise<Row[]> {
  const t = await testDb();
  const fake = startFakeExchange();
  await t.db.query("insert into strategies (name) values ('chaos')");
  const serve = await spawnServe({
    DATABASE_URL: t.url!,
    PINE_WEBHOOK_TOKEN: TOKEN,
    EXCHANGE_API_URL: fake.url,
    LOG_LEVEL: "error",
  });
  const r = rng(seed);
  const counts: Record<string, number> = {};
  const fiveXX: string[] = [];
  let fiveXXSurrogate = 0;
  // A lone UTF-16 surrogate, escaped or raw: the jsonb write refuses it (issue 15, item 5).
  const surrogate = new RegExp(
    String.raw`\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|\\u[dD][c-fC-F][0-9a-fA-F]{2}` +
      "|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]",
  );
  let next = 0;
  let died = false;
  try {
    const worker = async () => {
      while (next < bodies && !died) {
        const i = next++;
        const { body, type } = mutate(r, i);
        const headers: Record<string, string> = r() < 0.9 ? { "x-auth-token": TOKEN } : {};
        if (type) headers["content-type"] = type;
        try {
          const res = await fetch(`${serve.url}/alerts/pine`, {
            method: "POST",
            headers,
            body,
            signal: AbortSignal.timeout(10_000),
          });
          await res.body?.cancel();
          const cls = `${Math.floor(res.status / 100)}xx`;
          counts[cls] = (counts[cls] ?? 0) + 1;
          if (res.status >= 500) {
            if (surrogate.test(body)) fiveXXSurrogate++;
            else if (fiveXX.length < 5) fiveXX.push(body.slice(0, 300));
          }
        } catch {
          counts.error = (counts.error ?? 0) + 1;
          if ((counts.error ?? 0) > 50) died = true;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const rss = await rssMb(serve.child.pid);
    const alive = await fetch(`${serve.url}/healthz`).then((x) => x.ok, () => false);
    const s = "webhook fuzz";
    const five = counts["5xx"] ?? 0;
    if (fiveXX.length > 0) {
      console.error(`5xx bodies without a surrogate: ${JSON.stringify(fiveXX)}`);
    }
    return [
      row(s, "bodies (seed)", `${bodies} (${seed})`),
      row(
        s,
        "answers 2xx / 4xx / 5xx / no answer",
        `${counts["2xx"] ?? 0} / ${counts["4xx"] ?? 0} / ${five} / ${counts.error ?? 0}`,
      ),
      row(s, "5xx", five, "0", five === 0),
      row(s, "5xx whose body has a lone surrogate", fiveXXSurrogate),
      row(s, "serve alive after", alive ? "yes" : "no", "yes", alive),
      row(s, "serve RSS after, MB", rss),
    ];
  } finally {
    await serve.stop("SIGKILL").catch(() => 0);
    await fake.close();
    await t.close();
  }
}
