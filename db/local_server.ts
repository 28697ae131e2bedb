/**
 * The service side of the local database socket: lets CLI commands use the embedded database
 * while `serve` holds it. PGlite is one session, so raw SQL access from a second client would
 * run inside whatever transaction is open (FIELD_NOTES.md); instead each request is run here,
 * through the same serialized Db the service uses:
 * - `query`/`exec` outside a transaction: one statement, queued like any of the service's;
 * - `begin` … `commit`: the client's statements run inside one `db.transaction`, which holds
 *   the session (the service's own statements wait behind it), so it is bounded: a
 *   transaction open longer than `localTxMaxMs`, or whose client disconnects, is rolled back.
 * The socket lives in DATA_DIR/run (mode 0700, the socket 0600): same user only, never TCP.
 * A `dump` is written there too, and lives no longer than the connection that asked for it.
 */
import { errorMessage } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { logger } from "../core/log.ts";
import type { Db, Sql } from "./db.ts";
import {
  decode,
  encode,
  lines,
  localSocketDir,
  localSocketPath,
  type Reply,
  type Request,
} from "./local_wire.ts";

const log = logger("db", "local");

export interface LocalServer {
  path: string;
  /** Stops listening and drops every client (their open transactions roll back). */
  close(): Promise<void>;
}

export async function serveLocalSocket(db: Db, dataDir: string): Promise<LocalServer> {
  const dir = localSocketDir(dataDir);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dir, 0o700);
  const path = localSocketPath(dataDir);
  // The caller holds the data directory's lock, so a socket file left here is stale, and so
  // is any dump (its serve is gone, and with it the connection that asked for it).
  await Deno.remove(path).catch(() => {});
  const dumps: Dumps = { dir, owned: new Set() };
  await sweepDumps(dumps);
  const listener = Deno.listen({ transport: "unix", path });
  await Deno.chmod(path, 0o600);
  const conns = new Set<Deno.UnixConn>();
  const handlers = new Set<Promise<void>>();
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        if (conns.size >= limits.localClientsMax) {
          conn.close();
          continue;
        }
        conns.add(conn);
        const h = handle(db, dumps, conn).catch((error) =>
          log.warn("A local client failed: {error}", { error: errorMessage(error) })
        ).finally(() => {
          conns.delete(conn);
          handlers.delete(h);
          closeQuietly(conn);
        });
        handlers.add(h);
      }
    } catch {
      // The listener was closed.
    }
  })();
  return {
    path,
    close: async () => {
      closeQuietly(listener);
      for (const c of conns) closeQuietly(c);
      await accepting;
      await Promise.allSettled([...handlers]);
      await Deno.remove(path).catch(() => {});
    },
  };
}

function closeQuietly(c: { close(): void }) {
  try {
    c.close();
  } catch {
    // Already closed.
  }
}

async function handle(db: Db, dumps: Dumps, conn: Deno.UnixConn): Promise<void> {
  const input = lines(conn.readable, limits.localMessageMaxBytes);
  const enc = new TextEncoder();
  const send = async (reply: Reply) => {
    const bytes = enc.encode(encode(reply));
    for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
  };
  // The dumps written for this client: it reads and deletes its copy; one it never took (it
  // gave up waiting, or died) is deleted when it hangs up.
  const mine: string[] = [];
  try {
    for (;;) {
      const next = await input.next();
      if (next.done) return;
      const req = decode<Request>(next.value);
      if (req.op === "begin") {
        await runTransaction(db, input, req.id, send);
      } else if (req.op === "dump") {
        await send(await writeDump(db, dumps, req.id, mine));
      } else if (req.op === "query" || req.op === "exec") {
        await send(await runStatement(db, req));
      } else {
        await send({ id: req.id, error: { message: `No transaction is open for ${req.op}` } });
      }
    }
  } finally {
    for (const path of mine) {
      await Deno.remove(path).catch(() => {});
      dumps.owned.delete(path);
    }
  }
}

async function runStatement(sql: Sql, req: Request): Promise<Reply> {
  try {
    if (req.op === "exec") {
      await sql.exec(req.text ?? "");
      return { id: req.id, rows: [] };
    }
    return { id: req.id, rows: await sql.query(req.text ?? "", req.params ?? []) };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return {
      id: req.id,
      error: { message: errorMessage(error), code: typeof code === "string" ? code : undefined },
    };
  }
}

/** The dumps in DATA_DIR/run, and those a connected client may still read. */
interface Dumps {
  dir: string;
  owned: Set<string>;
}

const DUMP_FILE = /^dump-[0-9a-f-]+\.tar\.gz$/;

/** Deletes the dumps no connected client asked for (left by a killed serve or client). */
async function sweepDumps(dumps: Dumps): Promise<void> {
  for await (const entry of Deno.readDir(dumps.dir)) {
    const path = `${dumps.dir}/${entry.name}`;
    if (!entry.isFile || !DUMP_FILE.test(entry.name) || dumps.owned.has(path)) continue;
    await Deno.remove(path).catch(() => {});
    log.info("Removed a leftover dump {path}", { path });
  }
}

/**
 * A dump is too large for a reply line: it is written beside the socket (same user only) and
 * its path is sent; the client moves it where it wants it. It belongs to the connection
 * (`mine`) from before it is written, so a failed or abandoned one is never left behind.
 */
async function writeDump(db: Db, dumps: Dumps, id: number, mine: string[]): Promise<Reply> {
  const path = `${dumps.dir}/dump-${crypto.randomUUID()}.tar.gz`;
  try {
    if (!db.dumpDataDir) throw new Error("This database cannot dump its data directory");
    await sweepDumps(dumps);
    mine.push(path);
    dumps.owned.add(path);
    const blob = await db.dumpDataDir();
    await Deno.writeFile(path, new Uint8Array(await blob.arrayBuffer()), { mode: 0o600 });
    return { id, rows: [{ path }] };
  } catch (error) {
    await Deno.remove(path).catch(() => {});
    return { id, error: { message: errorMessage(error) } };
  }
}

class Rollback extends Error {}

/** One client transaction, holding the session until commit, rollback, timeout or hang-up. */
async function runTransaction(
  db: Db,
  input: AsyncGenerator<string>,
  beginId: number,
  send: (r: Reply) => Promise<void>,
): Promise<void> {
  let commitId = 0;
  try {
    await db.transaction(async (tx) => {
      await send({ id: beginId, rows: [] });
      const deadline = Date.now() + limits.localTxMaxMs;
      for (;;) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const expired = new Promise<"expired">((resolve) => {
          timer = setTimeout(() => resolve("expired"), Math.max(0, deadline - Date.now()));
        });
        const next = await Promise.race([input.next(), expired]).finally(() => clearTimeout(timer));
        if (next === "expired") {
          throw new Rollback(`The transaction was open more than ${limits.localTxMaxMs} ms`);
        }
        if (next.done) throw new Rollback("The client hung up");
        const req = decode<Request>(next.value);
        if (req.op === "commit") {
          commitId = req.id;
          return;
        }
        if (req.op === "rollback") {
          commitId = req.id;
          throw new Rollback("rollback");
        }
        if (req.op === "begin") {
          await send({ id: req.id, error: { message: "A transaction is already open" } });
          continue;
        }
        await send(await runStatement(tx, req));
      }
    });
    await send({ id: commitId, rows: [] });
  } catch (error) {
    if (error instanceof Rollback && error.message === "rollback") {
      await send({ id: commitId, rows: [] });
      return;
    }
    const message = errorMessage(error);
    log.warn("Rolled back a local client's transaction: {message}", { message });
    // Tell the client why, then drop it: its later statements must not run outside the
    // transaction it believes is open.
    await send({ id: commitId, error: { message: `Rolled back: ${message}` } }).catch(() => {});
    throw new Error(`transaction rolled back: ${message}`);
  }
}
