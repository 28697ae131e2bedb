/**
 * A fake Telegram Bot API: a real HTTP server on 127.0.0.1 (port 0) that grammY reaches with
 * `apiRoot: fake.apiRoot`. It records every message it accepts and can be scripted to fail.
 *
 * ```ts
 * await using tg = await startFakeTelegram();
 * const sender = telegramSender({ token: tg.token, apiUrl: tg.apiRoot });
 * tg.fail({ kind: "server_error" }, { times: 2 });          // the next two calls get a 502
 * tg.fail({ kind: "blocked" }, { chatId: 42 });             // chat 42 blocked the bot, for good
 * tg.fail({ kind: "rate_limited", retryAfterS: 3 }, { times: 1 });
 * await tg.waitForMessages(3);
 * tg.messages; // [{ chatId, text, parseMode, messageId }, …]
 * ```
 *
 * Methods: sendMessage (validates HTML and the 4096-character limit like Telegram) and getMe.
 * A wrong token gets 401.
 */

export type FakeFailure =
  /** 502 with a Bot API error body (grammY: GrammyError 502). */
  | { kind: "server_error" }
  /** 503 with an HTML body, as a proxy would send (grammY: HttpError). */
  | { kind: "bad_gateway_html" }
  | { kind: "rate_limited"; retryAfterS: number }
  /** 403 "Forbidden: bot was blocked by the user". */
  | { kind: "blocked" }
  /** 400 "Bad Request: chat not found". */
  | { kind: "chat_not_found" }
  /** 400 "Bad Request: can't parse entities: …". */
  | { kind: "parse_error" }
  /** Never answers (until the client gives up or the fake closes). */
  | { kind: "hang" }
  /** Accepts the message (it is delivered) but answers only after `delayMs`. */
  | { kind: "slow"; delayMs: number };

export interface FakeMessage {
  chatId: number;
  text: string;
  parseMode?: string;
  messageId: number;
}

export interface FakeTelegram extends AsyncDisposable {
  /** Pass as grammY's apiRoot / TELEGRAM_API_URL. */
  apiRoot: string;
  /** The token the fake accepts (matches TELEGRAM_BOT_TOKEN's format). */
  token: string;
  /** Messages accepted, in order. */
  messages: FakeMessage[];
  /** Every sendMessage request, including refused ones. */
  requests: number;
  /**
   * Scripts a failure: for `times` matching calls (default: until cleared), optionally only
   * for one chat. Rules are checked in the order they were added.
   */
  fail(failure: FakeFailure, match?: { times?: number; chatId?: number }): void;
  clearFailures(): void;
  /** Called with each accepted message (after it is recorded). */
  onMessage?: (m: FakeMessage) => void;
  /** Resolves when at least `n` messages were accepted; rejects after `timeoutMs`. */
  waitForMessages(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const ALLOWED_TAGS = new Set([
  "b",
  "strong",
  "i",
  "em",
  "u",
  "ins",
  "s",
  "strike",
  "del",
  "code",
  "pre",
  "a",
  "tg-spoiler",
  "blockquote",
]);

/** Returns a reason when `html` would make Telegram say "can't parse entities". */
function htmlProblem(html: string): string | undefined {
  const stack: string[] = [];
  for (const m of html.matchAll(/<(\/?)([a-z-]*)[^>]*>|&([a-z]+|#\d+);?|[<>&]/gi)) {
    if (m[0] === "<" || m[0] === ">") return `unexpected "${m[0]}" at ${m.index}`;
    if (m[0].startsWith("&")) {
      if (!/^&(lt|gt|amp|quot|#\d+);$/.test(m[0])) return `bad entity at ${m.index}`;
      continue;
    }
    const [, closing, tag] = m;
    if (!ALLOWED_TAGS.has(tag.toLowerCase())) return `unsupported tag "${tag}"`;
    if (closing) {
      if (stack.pop() !== tag.toLowerCase()) return `unmatched end tag "${tag}"`;
    } else stack.push(tag.toLowerCase());
  }
  return stack.length > 0 ? `unclosed tag "${stack[stack.length - 1]}"` : undefined;
}

const visible = (html: string) =>
  html.replace(/<[^>]*>/g, "").replace(/&(lt|gt|amp|quot|#\d+);/g, "_");

export async function startFakeTelegram(
  options: { token?: string } = {},
): Promise<FakeTelegram> {
  const token = options.token ?? "123456789:AAFakeTokenForTestsOnly_abcdefghijkl";
  const rules: { failure: FakeFailure; times: number; chatId?: number }[] = [];
  const hangs = new AbortController();
  const waiters: { n: number; resolve: () => void }[] = [];
  const nextId = new Map<number, number>();
  const reply = (status: number, body: unknown) => Response.json(body, { status });
  const error = (code: number, description: string, parameters?: unknown) =>
    reply(code, { ok: false, error_code: code, description, parameters });

  async function failWith(f: FakeFailure): Promise<Response> {
    switch (f.kind) {
      case "server_error":
        return error(502, "Bad Gateway");
      case "bad_gateway_html":
        return new Response("<html>503 Service Unavailable</html>", { status: 503 });
      case "rate_limited":
        return error(429, `Too Many Requests: retry after ${f.retryAfterS}`, {
          retry_after: f.retryAfterS,
        });
      case "blocked":
        return error(403, "Forbidden: bot was blocked by the user");
      case "chat_not_found":
        return error(400, "Bad Request: chat not found");
      case "parse_error":
        return error(400, "Bad Request: can't parse entities: unsupported start tag");
      case "hang":
      case "slow":
        await new Promise((r) => hangs.signal.addEventListener("abort", r, { once: true }));
        return error(504, "Gateway Timeout");
    }
  }

  function sendMessage(params: Record<string, unknown>): Response | Promise<Response> {
    fake.requests++;
    const chatId = Number(params.chat_id);
    const text = String(params.text ?? "");
    const rule = rules.find((r) => r.times > 0 && (r.chatId === undefined || r.chatId === chatId));
    let delayMs = 0;
    if (rule?.failure.kind === "slow") {
      rule.times--;
      delayMs = rule.failure.delayMs;
    } else if (rule) {
      rule.times--;
      return failWith(rule.failure);
    }
    if (!Number.isSafeInteger(chatId)) return error(400, "Bad Request: chat not found");
    if (params.parse_mode === "HTML") {
      const problem = htmlProblem(text);
      if (problem) return error(400, `Bad Request: can't parse entities: ${problem}`);
    }
    const length = params.parse_mode === "HTML" ? visible(text).length : text.length;
    if (length === 0) return error(400, "Bad Request: message text is empty");
    if (length > 4096) return error(400, "Bad Request: message is too long");
    const messageId = (nextId.get(chatId) ?? 0) + 1;
    nextId.set(chatId, messageId);
    const message: FakeMessage = {
      chatId,
      text,
      parseMode: params.parse_mode as string | undefined,
      messageId,
    };
    fake.messages.push(message);
    fake.onMessage?.(message);
    for (const w of [...waiters]) {
      if (fake.messages.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
    const answer = () =>
      reply(200, {
        ok: true,
        result: {
          message_id: messageId,
          date: Math.floor(Date.now() / 1000),
          chat: { id: chatId, type: "private" },
          text,
        },
      });
    if (delayMs <= 0) return answer();
    // Delivered now, answered late; a close releases the wait.
    return new Promise<Response>((resolve) => {
      const timer = setTimeout(() => resolve(answer()), delayMs);
      hangs.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve(answer());
      }, { once: true });
    });
  }

  const listening = Promise.withResolvers<void>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => listening.resolve(),
  }, async (req) => {
    const m = new URL(req.url).pathname.match(/^\/bot([^/]+)\/(\w+)$/);
    if (!m) return error(404, "Not Found");
    if (m[1] !== token) return error(401, "Unauthorized");
    const params = req.method === "POST" && req.headers.get("content-type")?.includes("json")
      ? await req.json()
      : Object.fromEntries(new URL(req.url).searchParams);
    if (m[2] === "sendMessage") return sendMessage(params);
    if (m[2] === "getMe") {
      return reply(200, { ok: true, result: { id: 123456789, is_bot: true, first_name: "fake" } });
    }
    return error(404, "Not Found: method not found");
  });

  await listening.promise;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    hangs.abort();
    await server.shutdown();
  };
  const fake: FakeTelegram = {
    apiRoot: `http://127.0.0.1:${server.addr.port}`,
    token,
    messages: [],
    requests: 0,
    fail(failure, match = {}) {
      rules.push({ failure, times: match.times ?? Infinity, chatId: match.chatId });
    },
    clearFailures() {
      rules.length = 0;
    },
    waitForMessages(n, timeoutMs = 10_000) {
      if (fake.messages.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(
              `Fake Telegram got ${fake.messages.length} of ${n} messages in ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  return fake;
}
