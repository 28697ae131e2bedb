/**
 * Streams a candle CSV (`ts,open,high,low,close,volume`, optional header) without loading it
 * whole. `ts` is epoch milliseconds, epoch seconds or an ISO-8601 time. Bad rows and rows not
 * after the previous good one are reported with their line numbers and skipped.
 */
import { limits } from "../core/limits.ts";
import type { Candle } from "../exchange/port.ts";

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
  let lineNo = 0;
  let prevTs = -Infinity;
  const handle = (raw: string) => {
    lineNo++;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") return;
    if (lineNo === 1 && HEADER.test(line.split(",")[0])) return;
    report.rows++;
    const c = parseCandleLine(line);
    if (typeof c === "string") return bad(lineNo, c);
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

  using file = await Deno.open(path, { read: true });
  const decoder = new TextDecoder();
  let rest = "";
  let skipping = false;
  let bytes = 0;
  for await (const chunk of file.readable) {
    bytes += chunk.byteLength;
    const text = rest + decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", start)) {
      if (skipping) {
        skipping = false;
      } else {
        handle(text.slice(start, nl));
      }
      start = nl + 1;
    }
    rest = text.slice(start);
    // A line without an end is not buffered forever: report it once and skip to the newline.
    if (!skipping && rest.length > limits.csvLineMaxBytes) {
      lineNo++;
      bad(lineNo, `line is longer than ${limits.csvLineMaxBytes} bytes`);
      skipping = true;
    }
    if (skipping) rest = "";
    options.onProgress?.(bytes);
  }
  rest += decoder.decode();
  if (!skipping && rest.length > 0) handle(rest);
  return report;
}
