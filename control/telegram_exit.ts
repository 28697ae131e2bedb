/**
 * /exit on Telegram in two steps: the command says what would be sold and offers a "Confirm
 * exit" button per position; pressing it within limits.controlConfirmTtlMs hands the sale to
 * the control core, which sells each opening of a position at most once (a second press, or a
 * press on a copy of the message, is told it is already being exited).
 */
import { type Context, type Filter, InlineKeyboard } from "grammy";
import { errorMessage } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { redactText } from "../core/redact.ts";
import type { CommandDeps } from "./telegram_commands.ts";
import { decodeExitConfirmation, encodeExitConfirmation } from "./telegram_confirm.ts";
import { type ChatScope, chatScope, operatorOnlyPressText } from "./telegram_scope.ts";
import { replyPlain, withOneRetry } from "./telegram_reply.ts";
import { cutText, splitReply } from "./telegram_text.ts";

type PressContext = Filter<Context, "callback_query:data">;

/** Telegram shows at most 200 characters of a callback answer. */
const ANSWER_MAX_CHARS = 200;
/** Buttons on one confirmation message (one per position the target matches). */
const BUTTONS_MAX = 20;

export async function askExitConfirmation(
  ctx: Context,
  target: string,
  deps: CommandDeps,
): Promise<void> {
  const { db, clock, log, actions } = deps;
  if (!/^\S{1,40}$/.test(target)) {
    await replyPlain(
      ctx,
      log,
      "Usage: /exit <symbol|position id>, e.g. /exit BTC/USDT or /exit 12",
    );
    return;
  }
  const targets = await actions.exitTargets(db, target);
  if (targets.length === 0) {
    await replyPlain(ctx, log, `No open position matches ${target}: nothing to sell.`);
    return;
  }
  const shown = targets.slice(0, BUTTONS_MAX);
  const ttlS = Math.round(limits.controlConfirmTtlMs / 1000);
  const expiresAtMs = clock.now().getTime() + limits.controlConfirmTtlMs;
  const keyboard = new InlineKeyboard();
  for (const t of shown) {
    const data = encodeExitConfirmation({
      positionId: t.positionId,
      openedAtMs: t.openedAtMs,
      expiresAtMs,
    });
    const label = shown.length === 1 ? "Confirm exit" : `Confirm exit #${t.positionId}`;
    keyboard.text(label, data).row();
  }
  const lines = [
    `Exit at market${shown.length > 1 ? ` (${shown.length} positions)` : ""}:`,
    ...shown.map((t) => t.text),
    ...(targets.length > shown.length
      ? [`… and ${targets.length - shown.length} more: exit them by position id.`]
      : []),
    `Press the button within ${ttlS} s to confirm; nothing is sold until then.`,
  ];
  await replyPlain(ctx, log, lines.join("\n"), keyboard);
}

// Longer than ~70 lines: expiry, the core's call, the answer and the edit read in one place.
export async function onExitPress(ctx: PressContext, deps: CommandDeps) {
  const { db, clock, log, actions } = deps;
  const userId = ctx.from.id;
  const answer = (text: string) =>
    withOneRetry(() => ctx.answerCallbackQuery({ text: cutText(text, ANSWER_MAX_CHARS) }))
      .catch((error) =>
        log.warn("Cannot answer a Telegram button press: {error}", {
          error: redactText(errorMessage(error)),
        })
      );
  const edit = (text: string, keyboard?: InlineKeyboard) =>
    withOneRetry(() =>
      ctx.editMessageText(splitReply(text)[0], keyboard ? { reply_markup: keyboard } : {})
    ).catch((error) =>
      // "message is not modified" after a double press is expected; the rest is worth a look.
      log.info("Cannot edit the confirmation message: {error}", {
        error: redactText(errorMessage(error)),
      })
    );
  const refused = await refusedHere(ctx, deps);
  if (refused !== undefined) return await answer(refused);
  const c = decodeExitConfirmation(ctx.callbackQuery.data);
  if (!c) {
    await answer("Unknown button.");
    return;
  }
  const remaining = otherButtons(ctx, ctx.callbackQuery.data);
  if (clock.now().getTime() > c.expiresAtMs) {
    log.info("Expired exit confirmation of position {positionId} pressed by {userId}", {
      positionId: c.positionId,
      userId,
    });
    const text = `Confirmation expired: nothing was sold. Send /exit again to sell position ` +
      `#${c.positionId}.`;
    await answer(text);
    await edit(text);
    return;
  }
  log.info("Exit of position {positionId} confirmed by {userId}", {
    positionId: c.positionId,
    userId,
  });
  let result: { ok: boolean; text: string };
  try {
    result = await actions.exitPosition(
      db,
      { via: "telegram", who: String(userId) },
      c.positionId,
      c.openedAtMs,
    );
  } catch (error) {
    const message = redactText(errorMessage(error));
    log.error("Exit of position {positionId} failed: {error}", {
      positionId: c.positionId,
      error: message,
    });
    result = { ok: false, text: `Exit of position #${c.positionId} failed: ${message}` };
  }
  await answer(result.text);
  await edit(result.text, remaining);
}

/**
 * Why a press cannot act in its chat, or undefined when it may. A button sells, so none is
 * honoured in a chat tied to an account, where /exit offers none (one sent there before the
 * chat was tied, or a forged press). A press with no chat is not one of the bot's buttons: it
 * sends no inline-mode messages.
 */
async function refusedHere(ctx: PressContext, deps: CommandDeps): Promise<string | undefined> {
  const { db, log } = deps;
  const chatId = ctx.chat?.id;
  if (chatId === undefined) return "Unknown button.";
  let account: ChatScope["account"];
  try {
    ({ account } = await chatScope(db, chatId));
  } catch (error) {
    const message = redactText(errorMessage(error));
    log.error("Cannot tell whether Telegram chat {chatId} is tied to an account: {error}", {
      chatId,
      error: message,
    });
    return `Not done: ${message}. Nothing was sold; press again in a moment.`;
  }
  if (!account) return undefined;
  log.info("Refused a button press of {userId} in chat {chatId}, tied to account {account}", {
    userId: ctx.from.id,
    chatId,
    account: account.name,
  });
  return operatorOnlyPressText(account.name);
}

/** The keyboard of the pressed message without the pressed button (undefined when empty). */
function otherButtons(ctx: PressContext, pressed: string) {
  const rows = ctx.callbackQuery.message && "reply_markup" in ctx.callbackQuery.message
    ? ctx.callbackQuery.message.reply_markup?.inline_keyboard ?? []
    : [];
  const keep = rows.map((row) =>
    row.filter((b) => "callback_data" in b && b.callback_data !== pressed)
  ).filter((row) => row.length > 0);
  if (keep.length === 0) return undefined;
  return InlineKeyboard.from(keep);
}
