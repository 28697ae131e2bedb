/**
 * Who may command the bot: only the Telegram user ids of TELEGRAM_ADMIN_IDS, in any chat (in a
 * chat tied to an account they only read, and only that account: telegram_scope.ts). Anyone
 * else learns nothing and changes nothing; they get one short "not allowed" at most per hour, so
 * that a stranger (or a bot) sending commands in a loop cannot make the bot spam a group.
 */
import type { Clock } from "../core/clock.ts";
import { limits } from "../core/limits.ts";

export const NOT_ALLOWED_TEXT = "Not allowed.";

export interface Access {
  isAdmin(userId: number | undefined): boolean;
  /**
   * Records a refused command of `userId`; true when it should get the "not allowed" reply
   * (the first refusal in the window), false when it is ignored quietly.
   */
  refuse(userId: number): boolean;
}

export function adminAccess(adminIds: readonly number[], clock: Clock): Access {
  const admins = new Set(adminIds);
  const lastReplyMs = new Map<number, number>();
  return {
    isAdmin: (userId) => userId !== undefined && admins.has(userId),
    refuse(userId) {
      const now = clock.now().getTime();
      const last = lastReplyMs.get(userId);
      if (last !== undefined && now - last < limits.controlRefusalReplyEveryMs) return false;
      // Bounded memory: forget the oldest when full (a Map iterates in insertion order).
      if (lastReplyMs.size >= limits.controlRefusedUsersMax) {
        lastReplyMs.delete(lastReplyMs.keys().next().value!);
      }
      lastReplyMs.delete(userId);
      lastReplyMs.set(userId, now);
      return true;
    },
  };
}
