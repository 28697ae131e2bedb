/** Shared pieces of bench/chaos.ts: result rows, alert posting, bounded waits, process RSS. */

export interface Row {
  scenario: string;
  metric: string;
  value: number | string;
  /** What the figure must be; empty for a plain measurement. */
  target: string;
  ok: boolean | null;
}

export const row = (
  scenario: string,
  metric: string,
  value: number | string,
  target = "",
  ok: boolean | null = null,
): Row => ({ scenario, metric, value, target, ok });

export const TOKEN = "chaos-webhook-token-0123456789abcdefghij";
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it is true or `ms` passed; returns whether it held. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  ms: number,
  everyMs = 500,
): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= until) return false;
    await sleep(everyMs);
  }
}

export function alertBody(key: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    symbol: "BTC/USDT",
    side: "buy",
    strategy: "chaos",
    qty: "0.001",
    sl: "40000",
    idempotency_key: key,
    ...extra,
  });
}

/** Posts one alert; the HTTP status, or 0 when the connection failed (not acknowledged). */
export async function postAlert(url: string, body: string, timeoutMs = 5_000): Promise<number> {
  try {
    const res = await fetch(`${url}/alerts/pine`, {
      method: "POST",
      headers: { "x-auth-token": TOKEN, "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

/** Resident set size of a process in MB, from /proc (Linux). */
export async function rssMb(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return 0;
  }
}

export const envInt = (name: string, fallback: number) => {
  const v = Number(Deno.env.get(name));
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : fallback;
};
