/**
 * Streams a candle CSV (`ts,open,high,low,close,volume`, optional header) without loading it
 * whole. `ts` is epoch milliseconds, epoch seconds or an ISO-8601 time. Bad rows and rows not
 * after the previous good one are reported with their line numbers and skipped.
 */
import { limits } from "../core/limits.ts";
import type { Candle } from "../exchange/mod.ts";

export interface RowError {
  line: number;
  reason: string;
}

export interface CsvReport {
  rows: number;
  good: number;
  /** Every bad row is counted; only the first few are kept. */
  badCount: number;
  errors: RowError[];
}

export interface CsvOptions {
  /** Called with the bytes read so far, at most once per chunk. */
  onProgress?: (bytesRead: number) => void;
}

const HEADER = /^\s*(ts|time|timestamp|date|open_time)\s*$/i;

function parseTs(field: string): number {
  const n = Number(field);
  if (field.length > 0 && Number.isFinite(n)) return n < 1e11 ? n * 1000 : n;
  return Date.parse(field);
}

/** Parses one data line; returns a candle or the reason it is bad. */
export function parseCandleLine(line: string): Candle | string {
  const f = line.split(",");
  if (f.length !== 6) return `expected 6 fields (ts,open,high,low,close,volume), found ${f.length}`;
  const ts = parseTs(f[0].trim());
  if (!Number.isFinite(ts)) return `bad ts "${f[0].slice(0, 40)}"`;
  const open = Number(f[1]), high = Number(f[2]), low = Number(f[3]);
  const close = Number(f[4]), volume = Number(f[5]);
  if (![open, high, low, close, volume].every(Number.isFinite) || f[4].trim() === "") {
    return "open, high, low, close and volume must be numbers";
  }
  if (!(low > 0)) return `low ${low} must be positive`;
  if (high < low || high < open || high < close || low > open || low > close) {
    return `high ${high} and low ${low} do not contain open ${open} and close ${close}`;
  }
  if (volume < 0) return `volume ${volume} is negative`;
  return { ts, open, high, low, close, volume };
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * The fast path for a plain numeric row, straight from the bytes: six fields of an optional
 * minus, digits and an optional fraction. With at most 15 significant digits the mantissa and
 * the power of ten are exact doubles, so the one division is correctly rounded and the value
 * equals `Number(field)` bit for bit. Anything else returns false and takes the string path.
 */
function parseFast(b: Uint8Array, start: number, end: number, out: Float64Array): boolean {
  let i = start;
  for (let f = 0; f < 6; f++) {
    const neg = b[i] === 45;
    if (neg) i++;
    let m = 0, digits = 0, frac = 0, dot = false;
    for (; i < end; i++) {
      const c = b[i];
      if (c >= 48 && c <= 57) {
        m = m * 10 + (c - 48);
        digits++;
        if (dot) frac++;
      } else if (c === 46 && !dot) dot = true;
      else break;
    }
    if (digits === 0 || digits > 15) return false;
    if (f < 5) {
      if (b[i] !== 44) return false;
      i++;
    } else if (i !== end) return false;
    const v = frac ? m / POW10[frac] : m;
    out[f] = neg ? -v : v;
  }
  return true;
}

/**
 * Reads the file and calls `onCandle` for each good row, in order. Returns the report; the
 * caller decides whether bad rows are fatal.
 */
export async function streamCandleCsv(
  path: string,
  onCandle: (c: Candle) => void,
  options: CsvOptions = {},
): Promise<CsvReport> {
  const report: CsvReport = { rows: 0, good: 0, badCount: 0, errors: [] };
  const bad = (line: number, reason: string) => {
    report.badCount++;
    if (report.errors.length < limits.backtestErrorsShownMax) report.errors.push({ line, reason });
  };
  const decoder = new TextDecoder();
  const v = new Float64Array(6);
  let lineNo = 0;
  let prevTs = -Infinity;

  const accept = (c: Candle) => {
    if (c.ts <= prevTs) {
      return bad(
        lineNo,
        `ts ${new Date(c.ts).toISOString()} is not after the previous row's ` +
          `${new Date(prevTs).toISOString()} (rows must be sorted, without duplicates)`,
      );
    }
    prevTs = c.ts;
    report.good++;
    onCandle(c);
  };

  /** The string path: the header, ISO times, odd numbers, and every bad row's message. */
  const slow = (line: string) => {
    if (line.trim() === "") return;
    if (lineNo === 1 && HEADER.test(line.split(",")[0])) return;
    report.rows++;
    const c = parseCandleLine(line);
    if (typeof c === "string") return bad(lineNo, c);
    accept(c);
  };

  const handle = (b: Uint8Array, start: number, end: number) => {
    lineNo++;
    if (end > start && b[end - 1] === 13) end--;
    if (end === start) return;
    if (end - start > limits.csvLineMaxBytes) {
      report.rows++;
      return bad(lineNo, `line is longer than ${limits.csvLineMaxBytes} bytes`);
    }
    if (lineNo > 1 && parseFast(b, start, end, v)) {
      // Indexed reads: destructuring a typed array goes through its iterator.
      const rawTs = v[0], open = v[1], high = v[2], low = v[3], close = v[4], volume = v[5];
      if (
        low > 0 && high >= low && high >= open && high >= close && low <= open &&
        low <= close && volume >= 0
      ) {
        report.rows++;
        return accept({ ts: rawTs < 1e11 ? rawTs * 1000 : rawTs, open, high, low, close, volume });
      }
    }
    slow(decoder.decode(b.subarray(start, end)));
  };

  using file = await Deno.open(path, { read: true });
  // One buffer, refilled after the unfinished line is moved to its front: no string per chunk.
  const size = 1 << 20;
  const buf = new Uint8Array(size);
  let filled = 0;
  let skipping = false;
  let bytes = 0;
  for (;;) {
    const n = await file.read(buf.subarray(filled));
    if (n === null) break;
    bytes += n;
    const end = filled + n;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1 && nl < end; nl = buf.indexOf(10, start)) {
      if (skipping) skipping = false;
      else handle(buf, start, nl);
      start = nl + 1;
    }
    // A line without an end is not buffered forever: report it once and skip to the newline.
    if (!skipping && end - start > limits.csvLineMaxBytes) {
      lineNo++;
      bad(lineNo, `line is longer than ${limits.csvLineMaxBytes} bytes`);
      skipping = true;
    }
    if (skipping) {
      filled = 0;
    } else {
      buf.copyWithin(0, start, end);
      filled = end - start;
    }
    options.onProgress?.(bytes);
  }
  if (!skipping && filled > 0) handle(buf, 0, filled);
  return report;
}
