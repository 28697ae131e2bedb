/**
 * Streams a candle CSV without loading it whole: `ts,open,high,low,close,volume` (header
 * optional), Binance's kline CSV or TradingView's export (see formats.ts). `ts` is epoch
 * seconds, milliseconds or microseconds, or an ISO-8601 time. Bad rows and rows not after the
 * previous good one are reported with their line numbers and skipped.
 */
import { limits } from "../core/limits.ts";
import type { Candle } from "../exchange/mod.ts";
import {
  detectLayout,
  fastCandle,
  GENERIC,
  type Layout,
  parseCandleLine,
  parseFast,
} from "./formats.ts";

export { detectLayout, type Layout, parseCandleLine } from "./formats.ts";

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
  /** Called once with the layout detected from the first non-empty line. */
  onLayout?: (layout: Layout) => void;
}

// Longer than ~80 lines: the byte-level fast path is one loop kept together for speed (bench/backtest.ts).
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

  let layout: Layout | undefined;
  /** The string path: the header, odd times and numbers, and every bad row's message. */
  const slow = (line: string) => {
    if (line.trim() === "") return;
    if (!layout) {
      layout = detectLayout(line);
      options.onLayout?.(layout);
      if (layout.header) return;
    }
    report.rows++;
    const c = parseCandleLine(line, layout);
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
    if (layout && parseFast(b, start, end, layout, v)) {
      const c = fastCandle(v);
      if (c) {
        report.rows++;
        return accept(c);
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
  if (!layout) options.onLayout?.(GENERIC);
  return report;
}
