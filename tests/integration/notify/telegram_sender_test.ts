/** The grammY sender against the fake Bot API: each Telegram answer is mapped once. */
import assert from "node:assert/strict";
import { RateLimitedError, TemporaryError } from "../../../core/errors.ts";
import {
  type Sender,
  TelegramChatMigratedError,
  TelegramRejectedError,
  telegramSender,
} from "../../../notify/telegram.ts";
import { type FakeFailure, startFakeTelegram } from "../../fakes/telegram.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const opts = serviceTest;

async function failureOf(send: Sender): Promise<Error> {
  try {
    await send(42, "hello");
  } catch (error) {
    return error as Error;
  }
  assert.fail("expected the send to fail");
}

Deno.test("the sender delivers HTML and returns Telegram's message id", opts, async () => {
  await using tg = await startFakeTelegram();
  const send = telegramSender({ token: tg.token, apiUrl: tg.apiRoot + "/" });
  assert.equal(await send(42, "<b>one</b> &amp; two"), 1);
  assert.equal(await send(42, "three"), 2);
  assert.deepEqual(tg.messages[0], {
    chatId: 42,
    text: "<b>one</b> &amp; two",
    parseMode: "HTML",
    messageId: 1,
  });
});

Deno.test("Telegram errors are mapped by what the worker does next", opts, async (t) => {
  await using tg = await startFakeTelegram();
  const send = telegramSender({ token: tg.token, apiUrl: tg.apiRoot });
  const cases: [FakeFailure, (e: Error) => void][] = [
    [{ kind: "server_error" }, (e) => assert.ok(e instanceof TemporaryError)],
    [{ kind: "bad_gateway_html" }, (e) => assert.ok(e instanceof TemporaryError)],
    [{ kind: "rate_limited", retryAfterS: 7 }, (e) => {
      assert.ok(e instanceof RateLimitedError);
      assert.equal(e.retryAfterMs, 7000);
    }],
    [{ kind: "blocked" }, (e) => {
      assert.ok(e instanceof TelegramRejectedError);
      assert.equal(e.scope, "chat");
    }],
    [{ kind: "chat_not_found" }, (e) => {
      assert.ok(e instanceof TelegramRejectedError);
      assert.equal(e.scope, "chat");
    }],
    [{ kind: "parse_error" }, (e) => {
      assert.ok(e instanceof TelegramRejectedError);
      assert.equal(e.scope, "text");
    }],
    // A group upgraded to a supergroup: not the chat gone, the chat moved (to a 13-digit id).
    [{ kind: "migrated", toChatId: -1001234567890 }, (e) => {
      assert.ok(e instanceof TelegramChatMigratedError);
      assert.equal(e.toChatId, -1001234567890);
      assert.match(e.message, /400: Bad Request: group chat was upgraded to a supergroup chat/);
    }],
  ];
  for (const [failure, check] of cases) {
    await t.step(failure.kind, async () => {
      tg.fail(failure, { times: 1 });
      check(await failureOf(send));
    });
  }
  assert.equal(tg.messages.length, 0);
});

Deno.test("broken HTML is refused as permanent for the text", opts, async () => {
  await using tg = await startFakeTelegram();
  const send = telegramSender({ token: tg.token, apiUrl: tg.apiRoot });
  const e = await failureOf((chat) => send(chat, "1 < 2"));
  assert.ok(e instanceof TelegramRejectedError && e.scope === "text", String(e));
});

Deno.test("a hanging Bot API times out as a temporary error", opts, async () => {
  await using tg = await startFakeTelegram();
  const send = telegramSender({ token: tg.token, apiUrl: tg.apiRoot, timeoutSeconds: 0.2 });
  tg.fail({ kind: "hang" }, { times: 1 });
  assert.ok(await failureOf(send) instanceof TemporaryError);
});

Deno.test("a timed-out request is never sent again behind the caller's back", opts, async () => {
  await using tg = await startFakeTelegram();
  const send = telegramSender({ token: tg.token, apiUrl: tg.apiRoot, timeoutSeconds: 0.2 });
  await send(42, "warm");
  tg.fail({ kind: "hang" }, { times: 1 });
  assert.ok(await failureOf((chat) => send(chat, "timed out")) instanceof TemporaryError);
  await send(42, "next");
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(tg.messages.map((m) => m.text), ["warm", "next"]);
});

Deno.test(
  "an unreachable Bot API is temporary and the error never shows the token",
  opts,
  async () => {
    const tg = await startFakeTelegram();
    const apiUrl = tg.apiRoot;
    await tg.close();
    const e = await failureOf(telegramSender({ token: tg.token, apiUrl }));
    assert.ok(e instanceof TemporaryError);
    assert.equal(e.message.includes(tg.token), false, e.message);
    assert.equal(e.message.includes(tg.token.split(":")[1]), false, e.message);
    assert.match(e.message, /Cannot reach the Telegram Bot API/);
  },
);

Deno.test("a wrong token is a temporary error that names no secret", opts, async () => {
  await using tg = await startFakeTelegram();
  const token = "987654321:AAWrongTokenWrongTokenWrongToken_xyz";
  const e = await failureOf(telegramSender({ token, apiUrl: tg.apiRoot }));
  assert.ok(e instanceof TemporaryError);
  assert.match(e.message, /401/);
  assert.equal(e.message.includes(token), false);
});

Deno.test(
  "a slow answer (past grammY's usual 10 s) is waited for, so the message is not sent again",
  opts,
  async () => {
    await using tg = await startFakeTelegram();
    // The service's default timeout, not a test one.
    const send = telegramSender({ token: tg.token, apiUrl: tg.apiRoot });
    tg.fail({ kind: "slow", delayMs: 11_000 }, { times: 1 });
    const id = await send(42, "slow");
    assert.equal(id, 1);
    assert.deepEqual(tg.messages.map((m) => m.text), ["slow"]);
  },
);

Deno.test(
  "an answer later than the timeout is the at-least-once window: delivered, then retried",
  opts,
  async () => {
    await using tg = await startFakeTelegram();
    const send = telegramSender({ token: tg.token, apiUrl: tg.apiRoot, timeoutSeconds: 0.2 });
    tg.fail({ kind: "slow", delayMs: 1_000 }, { times: 1 });
    assert.ok(await failureOf((chat) => send(chat, "late")) instanceof TemporaryError);
    await send(42, "late");
    assert.deepEqual(tg.messages.map((m) => m.text), ["late", "late"]);
  },
);
