/**
 * The log's way out: records are queued and written in batches, so a request that logs a
 * line does not pay for formatting, masking and a system call before it is answered. A batch
 * is written at most `limits.logFlushMs` after its first record, at once when it grows past
 * `limits.logFlushBytes`, and on `flushLogs()` / process exit (the `unload` event also fires
 * on `Deno.exit`, which is how `serve` ends after SIGTERM). Nothing is lost short of SIGKILL.
 *
 * Records are formatted at flush time, a few milliseconds later: their values are what the
 * caller passed (primitives in practice); an object mutated right after logging would show
 * its later state.
 */
import type { LogRecord, Sink } from "@logtape/logtape";
import { limits } from "./limits.ts";

export interface BatchSink {
  sink: Sink;
  flush(): void;
}

/**
 * `format` turns one record into its text (masked); `write` takes the text of a whole batch.
 * A failing `format` loses only its own record.
 */
export function batchSink(
  format: (record: LogRecord, out: string[]) => void,
  write: (text: string) => void,
): BatchSink {
  let queue: LogRecord[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    const out: string[] = [];
    for (const r of batch) {
      try {
        format(r, out);
      } catch {
        out.push(`{"level":"ERROR","message":"a log record could not be formatted"}\n`);
      }
    }
    write(out.join(""));
  };
  const sink: Sink = (record) => {
    queue.push(record);
    // ~200 bytes a record: the byte bound without measuring each record on the hot path.
    if (queue.length * 200 >= limits.logFlushBytes) return flush();
    if (timer === undefined) {
      const t = setTimeout(flush, limits.logFlushMs);
      // The timer alone must not keep a finished command alive; `unload` flushes the rest.
      Deno.unrefTimer(t);
      timer = t;
    }
  };
  return { sink, flush };
}

const encoder = new TextEncoder();

/** Writes all of `text` to standard error (writeSync may write only part of it). */
export function writeStderrAll(text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += Deno.stderr.writeSync(bytes.subarray(off));
}
