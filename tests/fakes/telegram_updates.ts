/**
 * The incoming side of the fake Bot API (tests/fakes/telegram.ts): a queue of updates served by
 * getUpdates as Telegram serves them, the callback-query and edit records, and the 409 conflicts
 * a second poller or a webhook cause.
 *
 * Semantics copied from https://core.telegram.org/bots/api#getupdates: an `offset` confirms
 * (drops) every update with a smaller id; a negative offset keeps only the last -offset ones;
 * `limit` is 1–100 (default 100); `timeout` long-polls up to that many seconds and answers as
 * soon as an update is queued; `allowed_updates` is remembered until the next call that gives it
 * (an empty list means every type). A getUpdates arriving while another one is waiting ends the
 * waiting one with 409 "terminated by other getUpdates request", as Telegram does (a client
 * that gave up its request is not noticed: its wait ends by timeout, by that 409, or at close).
 */

export type Conflict = "poller" | "webhook";

export interface FakeUpdate {
  update_id: number;
  message?: Record<string, unknown>;
  callback_query?: Record<string, unknown>;
}

export interface FakeCallbackAnswer {
  callbackQueryId: string;
  text?: string;
  showAlert?: boolean;
}

export interface FakeEdit {
  chatId: number;
  messageId: number;
  text: string;
  replyMarkup?: unknown;
}

export const CONFLICT_TEXT: Record<Conflict, string> = {
  poller:
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
  webhook: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to " +
    "delete the webhook first",
};

type Answer = { status: number; body: unknown };

const ok = (result: unknown): Answer => ({ status: 200, body: { ok: true, result } });
const fail = (code: number, description: string): Answer => ({
  status: code,
  body: { ok: false, error_code: code, description },
});

/**
 * The chat object Telegram attaches: a private chat for a positive id, a basic group for -1 to
 * -999999999999, a supergroup below -1000000000000 (the "-100…" ids).
 */
export function chatOf(chatId: number, firstName = `user${chatId}`): Record<string, unknown> {
  if (chatId > 0) return { id: chatId, type: "private", first_name: firstName };
  const type = chatId < -1_000_000_000_000 ? "supergroup" : "group";
  return { id: chatId, type, title: `group${-chatId}` };
}

/** Bot command entities where Telegram would mark them: a `/word` at the start of a word. */
function commandEntities(text: string) {
  return [...text.matchAll(/(?<=^|\s)\/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?/g)].map((m) => ({
    type: "bot_command",
    offset: m.index,
    length: m[0].length,
  }));
}

export function updateQueue(closed: AbortSignal) {
  let nextUpdateId = 1;
  let pending: FakeUpdate[] = [];
  let allowed: string[] = [];
  let waiting: { wake: (a?: Answer) => void } | undefined;
  let nextCallbackId = 1;
  const state = {
    /** A conflict every getUpdates gets until cleared (deleteWebhook clears "webhook"). */
    conflict: undefined as Conflict | undefined,
    /** getUpdates calls, refused ones included. */
    getUpdatesCalls: 0,
    /** The highest update id confirmed by an offset. */
    confirmedUpdateId: 0,
    answers: [] as FakeCallbackAnswer[],
    edits: [] as FakeEdit[],
    callbackIds: new Set<string>(),
  };

  const typeOf = (u: FakeUpdate) => Object.keys(u).find((k) => k !== "update_id") ?? "";
  const deliverable = () =>
    pending.filter((u) => allowed.length === 0 || allowed.includes(typeOf(u)));

  function push(update: Omit<FakeUpdate, "update_id">): number {
    const u = { update_id: nextUpdateId++, ...update };
    pending.push(u);
    waiting?.wake();
    return u.update_id;
  }

  function confirm(offset: number) {
    if (offset < 0) {
      pending = pending.slice(offset);
    } else {
      state.confirmedUpdateId = Math.max(state.confirmedUpdateId, offset - 1);
      pending = pending.filter((u) => u.update_id >= offset);
    }
  }

  async function getUpdates(params: Record<string, unknown>): Promise<Answer> {
    state.getUpdatesCalls++;
    if (state.conflict) return fail(409, CONFLICT_TEXT[state.conflict]);
    // The one waiting before this call loses, as with two pollers on one token.
    waiting?.wake(fail(409, CONFLICT_TEXT.poller));
    if (params.offset !== undefined) confirm(Number(params.offset));
    if (Array.isArray(params.allowed_updates)) allowed = params.allowed_updates.map(String);
    const limit = Math.min(100, Math.max(1, Number(params.limit ?? 100)));
    const timeoutS = Math.max(0, Number(params.timeout ?? 0));
    if (deliverable().length === 0 && timeoutS > 0 && !closed.aborted) {
      const woken = await new Promise<Answer | undefined>((resolve) => {
        const me = {
          wake: (a?: Answer) => {
            clearTimeout(timer);
            if (waiting === me) waiting = undefined;
            resolve(a);
          },
        };
        const timer = setTimeout(() => me.wake(), timeoutS * 1000);
        waiting = me;
        closed.addEventListener("abort", () => me.wake(), { once: true });
      });
      if (woken) return woken;
    }
    return ok(deliverable().slice(0, limit));
  }

  function message(
    o: { fromId: number; chatId: number; text: string },
    messageId: number,
  ): Record<string, unknown> {
    return {
      message_id: messageId,
      date: Math.floor(Date.now() / 1000),
      from: { id: o.fromId, is_bot: false, first_name: `user${o.fromId}` },
      chat: chatOf(o.chatId, `user${o.fromId}`),
      text: o.text,
      entities: o.text.startsWith("/") || /\s\//.test(o.text) ? commandEntities(o.text) : [],
    };
  }

  /**
   * The service message Telegram posts about an upgrade of group `from` to supergroup `to`,
   * `side` "old" in the old group (migrate_to_chat_id), "new" in the supergroup
   * (migrate_from_chat_id).
   */
  function migration(
    o: { fromChatId: number; toChatId: number; byUserId: number },
    side: "old" | "new",
    messageId: number,
  ): Record<string, unknown> {
    return {
      message_id: messageId,
      date: Math.floor(Date.now() / 1000),
      from: { id: o.byUserId, is_bot: false, first_name: `user${o.byUserId}` },
      ...(side === "old"
        ? { chat: chatOf(o.fromChatId), migrate_to_chat_id: o.toChatId }
        : { chat: chatOf(o.toChatId), migrate_from_chat_id: o.fromChatId }),
    };
  }

  function callbackQuery(
    o: { fromId: number; chatId: number; messageId: number; data: string },
    original: Record<string, unknown> | undefined,
  ): { id: string; update: Record<string, unknown> } {
    const id = `cq${nextCallbackId++}`;
    state.callbackIds.add(id);
    return {
      id,
      update: {
        id,
        from: { id: o.fromId, is_bot: false, first_name: `user${o.fromId}` },
        chat_instance: `ci${o.chatId}`,
        data: o.data,
        message: original ?? {
          message_id: o.messageId,
          date: Math.floor(Date.now() / 1000),
          chat: { id: o.chatId, type: chatOf(o.chatId).type },
          text: "",
        },
      },
    };
  }

  function answerCallbackQuery(params: Record<string, unknown>): Answer {
    const id = String(params.callback_query_id ?? "");
    if (!state.callbackIds.has(id)) {
      return fail(
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
      );
    }
    state.callbackIds.delete(id);
    state.answers.push({
      callbackQueryId: id,
      text: params.text as string | undefined,
      showAlert: params.show_alert as boolean | undefined,
    });
    return ok(true);
  }

  return {
    state,
    push,
    getUpdates,
    message,
    migration,
    callbackQuery,
    answerCallbackQuery,
    /** Whether a getUpdates is waiting for an update now. */
    get pollerWaiting() {
      return waiting !== undefined;
    },
    /** Updates queued and not yet confirmed. */
    get pendingCount() {
      return pending.length;
    },
    deleteWebhook(): Answer {
      if (state.conflict === "webhook") state.conflict = undefined;
      return ok(true);
    },
  };
}
