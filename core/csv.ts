/**
 * CSV read as a stream of lines: a file of any size is never held whole in memory, and one
 * line longer than the limit is reported instead of buffered. Quoted fields may hold commas and
 * doubled quotes, not line breaks (a signal row never needs one).
 */

export type CsvLine =
  | { lineNo: number; text: string }
  | { lineNo: number; tooLong: true };

/** Splits a byte stream into lines (LF or CRLF), numbered from 1. */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  maxLineBytes: number,
): AsyncGenerator<CsvLine> {
  const decoder = new TextDecoder();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let tooLong = false;
  let lineNo = 0;
  const finish = (): CsvLine => {
    lineNo++;
    if (tooLong) {
      tooLong = false;
      pending = [];
      pendingBytes = 0;
      return { lineNo, tooLong: true };
    }
    const all = new Uint8Array(pendingBytes);
    let at = 0;
    for (const p of pending) {
      all.set(p, at);
      at += p.byteLength;
    }
    pending = [];
    pendingBytes = 0;
    return { lineNo, text: decoder.decode(all).replace(/\r$/, "") };
  };
  const keep = (part: Uint8Array) => {
    if (tooLong) return;
    if (pendingBytes + part.byteLength > maxLineBytes) {
      tooLong = true;
      pending = [];
      pendingBytes = 0;
      return;
    }
    pending.push(part);
    pendingBytes += part.byteLength;
  };
  for await (const chunk of stream) {
    let start = 0;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, start)) {
      keep(chunk.subarray(start, i));
      yield finish();
      start = i + 1;
    }
    // Copied: the reader may reuse the chunk's buffer.
    if (start < chunk.byteLength) keep(chunk.slice(start));
  }
  if (pendingBytes > 0 || tooLong) yield finish();
}

/** The fields of one CSV line, or an error saying what is wrong with it. */
export function parseCsvLine(line: string): { ok: true; fields: string[] } | {
  ok: false;
  error: string;
} {
  const fields: string[] = [];
  let i = 0;
  while (true) {
    let field = "";
    // Spaces around a quoted field are tolerated (spreadsheets write ", " separators).
    let j = i;
    while (line[j] === " ") j++;
    if (line[j] === '"') {
      i = j;
      i++;
      while (true) {
        const q = line.indexOf('"', i);
        if (q < 0) return { ok: false, error: "Unterminated quoted field" };
        field += line.slice(i, q);
        if (line[q + 1] === '"') {
          field += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      while (line[i] === " ") i++;
      if (i < line.length && line[i] !== ",") {
        return { ok: false, error: `Unexpected character after a quoted field at column ${i + 1}` };
      }
    } else {
      const c = line.indexOf(",", i);
      field = c < 0 ? line.slice(i) : line.slice(i, c);
      i = c < 0 ? line.length : c;
    }
    fields.push(field.trim());
    if (i >= line.length) return { ok: true, fields };
    i++; // the comma
  }
}
