/**
 * The wire format of the local database socket (db/local_server.ts, db/local_client.ts):
 * one JSON object per line. Dates and bigints survive the trip through tagged objects, so
 * rows arrive with the same types as from the in-process driver.
 */

/** The socket of a running `serve`, inside a directory only its user can enter. */
export const localSocketDir = (dataDir: string) => `${dataDir}/run`;
export const localSocketPath = (dataDir: string) => `${localSocketDir(dataDir)}/db.sock`;

export type Op = "query" | "exec" | "begin" | "commit" | "rollback" | "dump";

export interface Request {
  id: number;
  op: Op;
  text?: string;
  params?: unknown[];
}

export interface Reply {
  /** The request answered; 0 for a frame the server sends on its own (transaction aborted). */
  id: number;
  rows?: unknown[];
  error?: { message: string; code?: string };
}

const DATE = "\u0000pgsl:date";
const BIGINT = "\u0000pgsl:bigint";

export function encode(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const raw = this[key];
    if (raw instanceof Date) return { [DATE]: raw.toISOString() };
    if (typeof raw === "bigint") return { [BIGINT]: raw.toString() };
    return v;
  }) + "\n";
}

export function decode<T>(line: string): T {
  return JSON.parse(line, (_key, v) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      if (typeof v[DATE] === "string") return new Date(v[DATE]);
      // int8 parameters go to the database as text, which PostgreSQL casts.
      if (typeof v[BIGINT] === "string") return v[BIGINT];
    }
    return v;
  });
}

/** Splits a byte stream into lines; a line longer than `maxBytes` ends the stream with an error. */
export async function* lines(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
    if (buf.length > maxBytes) throw new Error(`A message exceeds ${maxBytes} bytes`);
  }
}
