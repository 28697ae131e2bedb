/**
 * A loop that keeps failing reaches the operator (core/loop.ts onFailing): one WARN after a
 * short while, one CRITICAL if it lasts, one INFO when it works again, each once per episode.
 */
import { errorMessage } from "../core/errors.ts";
import type { LoopFailing } from "../core/loop.ts";
import { redactText } from "../core/redact.ts";
import type { Sql } from "../db/mod.ts";
import { enqueueNotification } from "./enqueue.ts";
import { NotificationKind } from "./kinds.ts";

/** The onFailing of a loop; `what` says what stops while it fails ("positions are unwatched"). */
export function loopAlarm(db: Sql, what: string) {
  return async (f: LoopFailing) => {
    const minutes = Math.max(1, Math.round((Date.now() - f.since.getTime()) / 60_000));
    const text = f.level === "RECOVERED"
      ? `The ${f.loop} loop works again after ${f.failures} failed run(s) since ${f.since.toISOString()}`
      : `The ${f.loop} loop has been failing for ${
        f.level === "CRITICAL" ? `${minutes} min` : "a while"
      } (${f.failures} runs): ${redactText(errorMessage(f.error))}. Meanwhile ${what}`;
    await enqueueNotification(db, {
      severity: f.level === "RECOVERED" ? "INFO" : f.level,
      kind: f.level === "RECOVERED" ? NotificationKind.loopRecovered : NotificationKind.loopFailing,
      text,
      // Per loop, level and hour: a loop that flaps (fails, works once, fails again) is told
      // about once an hour, not at every turn.
      dedupeKey: `loop:${f.loop}:${f.level}:${new Date().toISOString().slice(0, 13)}`,
    });
  };
}
