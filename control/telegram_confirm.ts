/**
 * The callback data of the "Confirm exit" button: which position (its id and when it was
 * opened, so that a button of a closed and reopened position does not sell the new one) and
 * until when the confirmation holds. Telegram allows 1–64 bytes; this takes at most ~45.
 *
 * The data is not signed: only TELEGRAM_ADMIN_IDS may press it, never in a chat tied to an
 * account (telegram_exit.ts), and an admin can send /exit in an operator chat anyway. Expiry
 * protects against a stale button pressed by mistake, not against the admin.
 */

export interface ExitConfirmation {
  positionId: number;
  openedAtMs: number;
  expiresAtMs: number;
}

const PREFIX = "exit";
const MAX_BYTES = 64;

export function encodeExitConfirmation(c: ExitConfirmation): string {
  for (const [name, v] of Object.entries(c)) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new Error(`Cannot encode the exit confirmation: ${name} is ${v}, not a whole number`);
    }
  }
  // Base 36 keeps the numbers short; the expiry has one-second resolution.
  const data = [
    PREFIX,
    c.positionId.toString(36),
    c.openedAtMs.toString(36),
    Math.ceil(c.expiresAtMs / 1000).toString(36),
  ].join(":");
  if (new TextEncoder().encode(data).length > MAX_BYTES) {
    throw new Error(
      `Cannot encode the exit confirmation: ${data.length} bytes is over ${MAX_BYTES}`,
    );
  }
  return data;
}

/** The confirmation in `data`, or undefined when it is not one (another button, a forgery). */
export function decodeExitConfirmation(data: string): ExitConfirmation | undefined {
  const m = /^exit:([0-9a-z]{1,12}):([0-9a-z]{1,12}):([0-9a-z]{1,12})$/.exec(data);
  if (!m) return undefined;
  const [positionId, openedAtMs, expiresAtS] = m.slice(1).map((v) => parseInt(v, 36));
  if (![positionId, openedAtMs, expiresAtS].every(Number.isSafeInteger)) return undefined;
  return { positionId, openedAtMs, expiresAtMs: expiresAtS * 1000 };
}
