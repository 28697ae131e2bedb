/**
 * Runs the real program (`main.ts`) as a child process with the permissions of the deno.json
 * tasks, for end-to-end tests: exit codes, messages, and a `serve` that is really listening.
 */
const ROOT = new URL("../../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;

/** The permission flags of `deno task start`, with writes allowed anywhere for temp dirs. */
export const RUN_FLAGS = [
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--allow-read",
  "--allow-write",
  "--unstable-cron",
];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A clean environment: only what the test gives, plus PATH and HOME. */
function childEnv(env: Record<string, string>): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    DENO_DIR: Deno.env.get("DENO_DIR") ?? "",
    NO_COLOR: "1",
    // Nothing a test starts may reach the exchange or Telegram: both point at a closed port on
    // loopback unless the test gives its fake.
    EXCHANGE_API_URL: "http://127.0.0.1:9",
    TELEGRAM_API_URL: "http://127.0.0.1:9",
    ...env,
  };
}

/** Runs `main.ts` with `args`; `flags` are added to RUN_FLAGS (e.g. the tasks' --allow-run). */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  flags: string[] = [],
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_FLAGS, ...flags, MAIN, ...args],
    env: childEnv(env),
    clearEnv: true,
    cwd: ROOT.pathname,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Starts `main.ts` with `args` without waiting for it (a test that kills it midway). */
export function spawnCli(args: string[], env: Record<string, string> = {}): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_FLAGS, MAIN, ...args],
    env: childEnv(env),
    clearEnv: true,
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

export interface ServeProcess extends AsyncDisposable {
  url: string;
  child: Deno.ChildProcess;
  /** Every line written to standard error so far. */
  lines: string[];
  /** Sends SIGTERM and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** Resolves with the first line matching `re`, waiting up to `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<string>;
}

/** Starts `serve` on port 0 and resolves once it logged that it is ready. */
export async function spawnServe(
  env: Record<string, string>,
  readyMs = 30_000,
): Promise<ServeProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_FLAGS, MAIN, "serve"],
    env: childEnv({ HTTP_PORT: "0", ...env }),
    clearEnv: true,
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.re.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  };
  const pumps = Promise.all([pump(child.stderr), pump(child.stdout)]);
  const waitFor = (re: RegExp, ms = 10_000) => {
    const found = lines.find((l) => re.test(l));
    if (found) return Promise.resolve(found);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Timed out waiting for ${re}; output:\n${lines.join("\n")}`)),
        ms,
      );
      waiters.push({
        re,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  };
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (!exited) child.kill(signal);
    const s = await status;
    await pumps;
    return s.code;
  };
  let ready: string;
  try {
    ready = await Promise.race([
      waitFor(/"Ready on/, readyMs),
      status.then((s) => {
        throw new Error(`serve exited with ${s.code} before ready:\n${lines.join("\n")}`);
      }),
    ]);
  } catch (error) {
    await stop("SIGKILL");
    throw error;
  }
  const url = JSON.parse(ready).properties.url as string;
  return {
    url,
    child,
    lines,
    stop,
    waitFor,
    [Symbol.asyncDispose]: async () => void (await stop("SIGKILL")),
  };
}

/** Posts one TradingView alert (JSON, token in the header) to a running serve's webhook. */
export function postPineAlert(
  serve: Pick<ServeProcess, "url">,
  token: string,
  alert: Record<string, unknown>,
): Promise<Response> {
  return fetch(`${serve.url}/alerts/pine`, {
    method: "POST",
    headers: { "x-auth-token": token, "content-type": "application/json" },
    body: JSON.stringify(alert),
  });
}
