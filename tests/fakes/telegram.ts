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
 * tg.messages; // [{ chatId, text, parseMode, messageId, replyMarkup }, …]
 *
 * // Incoming updates, served by getUpdates (telegram_updates.ts has the semantics):
 * tg.sendUpdate({ fromId: 7, chatId: 7, text: "/status" });   // a message; returns its update id
 * tg.press({ fromId: 7, chatId: 7, messageId: 3, data: "x:…" }); // an inline button press
 * tg.conflict("webhook");                                  // getUpdates answers 409 until cleared
 * tg.upgradeGroup({ fromChatId: -4001, toChatId: -1004001 }); // the group became a supergroup
 * await tg.waitFor(() => tg.edits.length > 0);
 * tg.answers; tg.edits;                                    // answerCallbackQuery, editMessageText
 * ```
 *
 * Methods: sendMessage (validates HTML and the 4096-character limit like Telegram, records
 * `reply_markup`), editMessageText, answerCallbackQuery, getUpdates, deleteWebhook,
 * getWebhookInfo and getMe. A wrong token gets 401. A group upgraded to a supergroup answers
 * every message to its old id with 400 and `parameters.migrate_to_chat_id`, as Telegram does.
 */
import {
  chatOf,
  type Conflict,
  CONFLICT_TEXT,
  type FakeCallbackAnswer,
  type FakeEdit,
  updateQueue,
} from "./telegram_updates.ts";

export { CONFLICT_TEXT };
export type { Conflict, FakeCallbackAnswer, FakeEdit };

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
  /**
   * 400 "Bad Request: group chat was upgraded to a supergroup chat" with
   * `parameters.migrate_to_chat_id` (upgradeGroup scripts the whole upgrade).
   */
  | { kind: "migrated"; toChatId: number }
  /** Never answers (until the client gives up or the fake closes). */
  | { kind: "hang" }
  /** Accepts the message (it is delivered) but answers only after `delayMs`. */
  | { kind: "slow"; delayMs: number };

export interface FakeMessage {
  chatId: number;
  text: string;
  parseMode?: string;
  messageId: number;
  /** The inline keyboard or other markup sent with it, as given. */
  replyMarkup?: unknown;
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
  /** Queues a text message from user `fromId` in chat `chatId` (negative: a group). */
  sendUpdate(m: { fromId: number; chatId: number; text: string }): number;
  /**
   * Queues a press of an inline button with callback data `data` on message `messageId` (the
   * message as last sent or edited is attached, as Telegram does); returns the query id.
   */
  press(p: { fromId: number; chatId: number; messageId: number; data: string }): string;
  /**
   * Upgrades group `fromChatId` to supergroup `toChatId`, as Telegram does: from now on a message
   * to the old id is refused with 400 and `parameters.migrate_to_chat_id`, and (unless
   * `serviceMessages` is false) the bot gets the service messages, `migrate_to_chat_id` in the
   * old group and `migrate_from_chat_id` in the new one. Returns their update ids.
   */
  upgradeGroup(
    o: { fromChatId: number; toChatId: number; byUserId?: number; serviceMessages?: boolean },
  ): number[];
  /** getUpdates answers 409 for this reason until `conflict(undefined)` (or deleteWebhook). */
  conflict(reason: Conflict | undefined): void;
  /** answerCallbackQuery calls accepted, in order. */
  answers: FakeCallbackAnswer[];
  /** editMessageText calls accepted, in order. */
  edits: FakeEdit[];
  /** getUpdates calls, refused ones included. */
  readonly getUpdatesCalls: number;
  /** Updates queued and not yet confirmed by an offset. */
  readonly pendingUpdates: number;
  /** Whether a getUpdates is long-polling now (a second one would end it with 409). */
  readonly pollerWaiting: boolean;
  /** Resolves once `done()` holds after a message, edit or answer; rejects after `timeoutMs`. */
  waitFor(done: () => boolean, timeoutMs?: number): Promise<void>;
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
  /** Groups upgraded to a supergroup: old chat id → new chat id. */
  const upgraded = new Map<number, number>();
  const watchers = new Set<() => void>();
  // Message ids are shared by the bot's messages and the users' in a chat, as in Telegram.
  const takeMessageId = (chatId: number) => {
    const id = (nextId.get(chatId) ?? 0) + 1;
    nextId.set(chatId, id);
    return id;
  };
  const reply = (status: number, body: unknown) => Response.json(body, { status });
  const error = (code: number, description: string, parameters?: unknown) =>
    reply(code, { ok: false, error_code: code, description, parameters });

  /** Telegram's answer to a message for a group that became a supergroup. */
  const upgradedTo = (toChatId: number) =>
    error(400, "Bad Request: group chat was upgraded to a supergroup chat", {
      migrate_to_chat_id: toChatId,
    });

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
      case "migrated":
        return upgradedTo(f.toChatId);
      case "hang":
      case "slow":
        await new Promise((r) => hangs.signal.addEventListener("abort", r, { once: true }));
        return error(504, "Gateway Timeout");
    }
  }

  /** Telegram's checks on a text: its parse mode and length. */
  function textProblem(params: Record<string, unknown>, text: string): Response | undefined {
    if (params.parse_mode === "HTML") {
      const problem = htmlProblem(text);
      if (problem) return error(400, `Bad Request: can't parse entities: ${problem}`);
    }
    const length = params.parse_mode === "HTML" ? visible(text).length : text.length;
    if (length === 0) return error(400, "Bad Request: message text is empty");
    if (length > 4096) return error(400, "Bad Request: message is too long");
  }

  const changed = () => {
    for (const w of [...watchers]) w();
  };

  function editMessageText(params: Record<string, unknown>): Response {
    const chatId = Number(params.chat_id);
    const messageId = Number(params.message_id);
    const text = String(params.text ?? "");
    const movedTo = upgraded.get(chatId);
    if (movedTo !== undefined) return upgradedTo(movedTo);
    const original = fake.messages.find((m) => m.chatId === chatId && m.messageId === messageId);
    if (!original) return error(400, "Bad Request: message to edit not found");
    const problem = textProblem(params, text);
    if (problem) return problem;
    const current =
      [...fake.edits].reverse().find((e) => e.chatId === chatId && e.messageId === messageId) ??
        original;
    const replyMarkup = params.reply_markup;
    if (
      current.text === text &&
      JSON.stringify(current.replyMarkup ?? null) === JSON.stringify(replyMarkup ?? null)
    ) {
      return error(400, "Bad Request: message is not modified");
    }
    fake.edits.push({ chatId, messageId, text, replyMarkup });
    changed();
    return reply(200, {
      ok: true,
      result: { message_id: messageId, date: 0, chat: { id: chatId, type: "private" }, text },
    });
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
    const movedTo = upgraded.get(chatId);
    if (movedTo !== undefined) return upgradedTo(movedTo);
    const problem = textProblem(params, text);
    if (problem) return problem;
    const messageId = takeMessageId(chatId);
    const message: FakeMessage = {
      chatId,
      text,
      parseMode: params.parse_mode as string | undefined,
      messageId,
      // Only when sent, so a message without markup looks as it always did.
      ...(params.reply_markup !== undefined ? { replyMarkup: params.reply_markup } : {}),
    };
    fake.messages.push(message);
    fake.onMessage?.(message);
    changed();
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

  const updates = updateQueue(hangs.signal);
  const answer = (a: { status: number; body: unknown }) => reply(a.status, a.body);

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
    switch (m[2]) {
      case "sendMessage":
        return sendMessage(params);
      case "editMessageText":
        return editMessageText(params);
      case "answerCallbackQuery": {
        const a = updates.answerCallbackQuery(params);
        if (a.status === 200) changed();
        return answer(a);
      }
      case "getUpdates":
        return answer(await updates.getUpdates(params));
      case "deleteWebhook":
        return answer(updates.deleteWebhook());
      case "getWebhookInfo":
        return reply(200, {
          ok: true,
          result: {
            url: updates.state.conflict === "webhook" ? "https://elsewhere.example/hook" : "",
            has_custom_certificate: false,
            pending_update_count: updates.pendingCount,
          },
        });
      case "getMe":
        return reply(200, {
          ok: true,
          result: { id: 123456789, is_bot: true, first_name: "fake", username: "fake_bot" },
        });
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
    sendUpdate(o) {
      return updates.push({ message: updates.message(o, takeMessageId(o.chatId)) });
    },
    press(o) {
      const sent = fake.messages.find((m) => m.chatId === o.chatId && m.messageId === o.messageId);
      const edit = [...fake.edits].reverse().find((e) =>
        e.chatId === o.chatId && e.messageId === o.messageId
      );
      const latest = edit ?? sent;
      const original = latest && {
        message_id: o.messageId,
        date: Math.floor(Date.now() / 1000),
        from: { id: 123456789, is_bot: true, first_name: "fake", username: "fake_bot" },
        chat: chatOf(o.chatId),
        text: latest.text,
        ...(latest.replyMarkup ? { reply_markup: latest.replyMarkup } : {}),
      };
      const q = updates.callbackQuery(o, original);
      updates.push({ callback_query: q.update });
      return q.id;
    },
    upgradeGroup(o) {
      upgraded.set(o.fromChatId, o.toChatId);
      if (o.serviceMessages === false) return [];
      const by = { ...o, byUserId: o.byUserId ?? 1001 };
      return (["old", "new"] as const).map((side) =>
        updates.push({
          message: updates.migration(
            by,
            side,
            takeMessageId(side === "old" ? o.fromChatId : o.toChatId),
          ),
        })
      );
    },
    conflict(reason) {
      updates.state.conflict = reason;
    },
    answers: updates.state.answers,
    edits: updates.state.edits,
    get getUpdatesCalls() {
      return updates.state.getUpdatesCalls;
    },
    get pendingUpdates() {
      return updates.pendingCount;
    },
    get pollerWaiting() {
      return updates.pollerWaiting;
    },
    waitFor(done, timeoutMs = 10_000) {
      if (done()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!done()) return;
          watchers.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`Fake Telegram: the awaited condition did not hold in ${timeoutMs} ms`));
        }, timeoutMs);
        watchers.add(check);
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  return fake;
}
