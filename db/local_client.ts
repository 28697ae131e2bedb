/**
 * The CLI side of the local database socket (see db/local_server.ts): a Db whose statements
 * are run by the `serve` that holds the embedded database. Calls are serialized like the
 * in-process driver's: a transaction holds this client's connection until it ends.
 */
import { DeadlineError } from "../core/deadline.ts";
import { RuntimeError } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import type { Db, Sql } from "./db.ts";
import { decode, encode, lines, type Op, type Reply } from "./local_wire.ts";

/** An error the serve reported; `code` is the SQLSTATE when there is one (see sqlState). */
class RemoteError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

// Longer than ~80 lines: one closure over the socket: the Db methods are each a few lines.
/** Connects to a running serve's socket; undefined when nothing listens there. */
export async function connectLocalSocket(path: string): Promise<Db | undefined> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch {
    return undefined;
  }
  const input = lines(conn.readable, limits.localMessageMaxBytes);
  const enc = new TextEncoder();
  let nextId = 1;
  let broken: string | undefined;

  const request = async (
    op: Op,
    text?: string,
    params?: readonly unknown[],
    timeoutMs: number = limits.localRequestTimeoutMs,
  ) => {
    if (broken) throw new RuntimeError(broken);
    const id = nextId++;
    const bytes = enc.encode(encode({ id, op, text, params }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      try {
        for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
      } catch (error) {
        // The serve may have said why before hanging up (a transaction rolled back).
        const last = await input.next().catch(() => undefined);
        const why = last && !last.done ? decode<Reply>(last.value).error?.message : undefined;
        throw new RuntimeError(
          why ?? `The running serve closed the connection: ${(error as Error).message}`,
        );
      }
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              op === "dump"
                ? new DeadlineError(timeoutMs, "The running serve's dump")
                : new RuntimeError(`The running serve did not answer within ${timeoutMs} ms`),
            ),
          timeoutMs,
        );
      });
      const next = await Promise.race([input.next(), timeout]);
      if (next.done) throw new RuntimeError("The running serve closed the local socket");
      const reply = decode<Reply>(next.value);
      if (reply.error) {
        if (reply.error.message.startsWith("Rolled back:")) broken = reply.error.message;
        throw new RemoteError(reply.error.message, reply.error.code);
      }
      return reply.rows ?? [];
    } catch (error) {
      // A reply out of step would pair later answers with the wrong requests: stop here.
      if (!(error instanceof RemoteError)) broken ??= (error as Error).message;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };

  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => {});
    return run;
  };
  const tx: Sql = {
    query: async <T>(text: string, params: readonly unknown[] = []) =>
      (await request("query", text, params)) as T[],
    exec: async (text: string) => void (await request("exec", text)),
  };
  let closed = false;
  return {
    kind: "embedded",
    query: (text, params) => serial(() => tx.query(text, params)),
    exec: (text) => serial(() => tx.exec(text)),
    transaction: (fn) =>
      serial(async () => {
        await request("begin");
        let result;
        try {
          result = await fn(tx);
        } catch (error) {
          if (!broken) await request("rollback").catch(() => {});
          throw error;
        }
        await request("commit");
        return result;
      }),
    listen: () =>
      Promise.reject(new RuntimeError("LISTEN is not available through a running serve")),
    dumpDataDir: (options) =>
      serial(async () => {
        // A dump takes longer than any statement: its own bound. Given up, the connection is
        // broken (closed by close()), and the serve deletes its copy when it finishes.
        const timeoutMs = options?.timeoutMs ?? limits.backupTimeoutS * 1000;
        const [{ path }] = (await request("dump", undefined, undefined, timeoutMs)) as {
          path: string;
        }[];
        try {
          return new Blob([await Deno.readFile(path)]);
        } finally {
          await Deno.remove(path).catch(() => {});
        }
      }),
    // The running serve holds the instance.
    tryLockInstance: () => Promise.resolve(false),
    close: async () => {
      if (closed) return;
      closed = true;
      await tail;
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    },
  };
}
