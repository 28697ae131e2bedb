/**
 * Candle CSV layouts and the byte-level fast path. A layout is detected once, from the header
 * and the first data row; every row is then parsed straight from the bytes when it has the
 * common shape, and by `parseCandleLine` (the careful path, with a reason for every bad row)
 * when it does not. Both paths give the same candle for the same row: the fast one only
 * accepts what it can convert exactly.
 *
 * Layouts met in practice:
 *   generic      ts,open,high,low,close,volume (header optional)
 *   binance      Binance's 12-column kline CSV, no header (open time first, in ms or µs)
 *   tradingview  TradingView's chart export: time,open,high,low,close[,Volume][,indicators…]
 */
import type { Candle } from "../exchange/mod.ts";

export interface Layout {
  name: "generic" | "binance" | "tradingview" | "header";
  /** Whether line 1 is a header (never a candle). */
  header: boolean;
  /** Fields every row must have. */
  columns: number;
  /** Column of ts, open, high, low, close, volume; volume -1 when the file has none (0). */
  at: [number, number, number, number, number, number];
  /** For each column, which candle value it holds (0..5) or -1 when it is ignored. */
  slot: Int8Array;
}

const TS_NAMES = /^(ts|time|timestamp|date|datetime|open_?time|open time)$/i;
const NAMES: RegExp[] = [
  TS_NAMES,
  /^(open|o)$/i,
  /^(high|h)$/i,
  /^(low|l)$/i,
  /^(close|c)$/i,
  /^(volume|vol|v)$/i,
];

function layout(
  name: Layout["name"],
  header: boolean,
  columns: number,
  at: Layout["at"],
): Layout {
  const slot = new Int8Array(columns).fill(-1);
  at.forEach((col, k) => {
    if (col >= 0) slot[col] = k;
  });
  return { name, header, columns, at, slot };
}

const POSITIONAL: Layout["at"] = [0, 1, 2, 3, 4, 5];

/** The layout of a file from its first non-empty line. */
export function detectLayout(firstLine: string): Layout {
  const fields = firstLine.split(",").map((f) => f.trim().replace(/^"(.*)"$/, "$1"));
  const at = NAMES.map((re) => fields.findIndex((f) => re.test(f))) as Layout["at"];
  const named = at.slice(0, 5).every((i) => i >= 0);
  if (named || TS_NAMES.test(fields[0] ?? "")) {
    if (!named) return layout("header", true, Math.max(6, fields.length), POSITIONAL);
    const tv = fields[0] === "time" && fields.length >= 5 && at[0] === 0;
    return layout(tv ? "tradingview" : "header", true, fields.length, at);
  }
  if (fields.length === 12) return layout("binance", false, 12, POSITIONAL);
  return layout("generic", false, Math.max(6, fields.length), POSITIONAL);
}

/** The layout when nothing is known yet (an empty file): the documented generic one. */
export const GENERIC: Layout = layout("generic", false, 6, POSITIONAL);

/** Epoch seconds, milliseconds or microseconds (Binance's spot files since 2025) to ms. */
export function epochToMs(n: number): number {
  return n < 1e11 ? n * 1000 : n >= 1e14 ? Math.floor(n / 1000) : n;
}

function parseTs(field: string): number {
  const n = Number(field);
  if (field.length > 0 && Number.isFinite(n)) return epochToMs(n);
  return Date.parse(field);
}

/** Parses one data line (the careful path); returns a candle or the reason it is bad. */
export function parseCandleLine(line: string, l: Layout = GENERIC): Candle | string {
  const f = line.split(",");
  if (f.length !== l.columns) {
    const what = l.name === "generic" && l.columns === 6
      ? "ts,open,high,low,close,volume"
      : `the ${l.name} layout`;
    return `expected ${l.columns} fields (${what}), found ${f.length}`;
  }
  const [a0, a1, a2, a3, a4, a5] = l.at;
  const ts = parseTs(f[a0].trim());
  if (!Number.isFinite(ts)) return `bad ts "${f[a0].slice(0, 40)}"`;
  const open = Number(f[a1]), high = Number(f[a2]), low = Number(f[a3]);
  const close = Number(f[a4]), volume = a5 < 0 ? 0 : Number(f[a5]);
  if (
    ![open, high, low, close, volume].every(Number.isFinite) || f[a4].trim() === "" ||
    f[a1].trim() === "" || f[a2].trim() === "" || f[a3].trim() === ""
  ) {
    return "open, high, low, close and volume must be numbers";
  }
  return checkCandle(ts, open, high, low, close, volume);
}

function checkCandle(
  ts: number,
  open: number,
  high: number,
  low: number,
  close: number,
  volume: number,
): Candle | string {
  if (!(low > 0)) return `low ${low} must be positive`;
  if (high < low || high < open || high < close || low > open || low > close) {
    return `high ${high} and low ${low} do not contain open ${open} and close ${close}`;
  }
  if (volume < 0) return `volume ${volume} is negative`;
  return { ts, open, high, low, close, volume };
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Where the last fast-path field ended (module state: no allocation per field). */
let pos = 0;

/**
 * A plain decimal from the bytes: optional minus, digits, optional fraction. With at most 15
 * significant digits the mantissa and the power of ten are exact doubles, so the one division
 * is correctly rounded and equals `Number(field)` bit for bit. NaN when anything else.
 */
function decimal(b: Uint8Array, i: number, end: number): number {
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
  pos = i;
  // Whole numbers stay exact up to 2^53 (epoch µs have 16 digits).
  if (digits === 0 || (digits > 15 && (frac > 0 || m > Number.MAX_SAFE_INTEGER))) return NaN;
  const v = frac ? m / POW10[frac] : m;
  return neg ? -v : v;
}

function digits2(b: Uint8Array, i: number): number {
  const x = b[i] - 48, y = b[i + 1] - 48;
  return x >= 0 && x <= 9 && y >= 0 && y <= 9 ? x * 10 + y : -1;
}

/**
 * ISO-8601 `YYYY-MM-DDTHH:MM[:SS[.f{1,3}]]` with `Z`, `±HH:MM` or `±HHMM`, to epoch ms. Only
 * valid calendar times with a zone: anything else (no zone means local time to `Date.parse`,
 * Feb 30 rolls over there) is left to the careful path. NaN when not taken.
 */
function isoTs(b: Uint8Array, i: number, end: number): number {
  if (end - i < 17 || b[i + 4] !== 45 || b[i + 7] !== 45 || b[i + 10] !== 84) return NaN;
  const y1 = digits2(b, i), y2 = digits2(b, i + 2);
  const mo = digits2(b, i + 5), d = digits2(b, i + 8);
  const h = digits2(b, i + 11), mi = digits2(b, i + 14);
  if (y1 < 0 || y2 < 0 || b[i + 13] !== 58 || h < 0 || h > 23 || mi < 0 || mi > 59) return NaN;
  const y = y1 * 100 + y2;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (mo < 1 || mo > 12 || d < 1 || d > (mo === 2 && leap ? 29 : DAYS[mo - 1])) return NaN;
  let j = i + 16, s = 0, ms = 0;
  if (b[j] === 58) {
    s = digits2(b, j + 1);
    if (s < 0 || s > 59) return NaN;
    j += 3;
    if (b[j] === 46) {
      let n = 0, scale = 100;
      for (j++; j < end && b[j] >= 48 && b[j] <= 57 && n < 4; j++, n++) {
        ms += (b[j] - 48) * scale;
        scale /= 10;
      }
      if (n === 0 || n > 3) return NaN;
    }
  }
  let offset = 0;
  if (b[j] === 90) j++;
  else if (b[j] === 43 || b[j] === 45) {
    const oh = digits2(b, j + 1);
    const colon = b[j + 3] === 58 ? 1 : 0;
    const om = digits2(b, j + 3 + colon);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return NaN;
    offset = (b[j] === 43 ? 1 : -1) * (oh * 60 + om) * 60_000;
    j += 5 + colon;
  } else return NaN;
  pos = j;
  return Date.UTC(y, mo - 1, d, h, mi, s, ms) - offset;
}

/**
 * The fast path for one row from the bytes into `out` (ts, open, high, low, close, volume).
 * False when the row is not of the plain shape; the caller then takes the careful path.
 */
export function parseFast(
  b: Uint8Array,
  start: number,
  end: number,
  l: Layout,
  out: Float64Array,
): boolean {
  let i = start;
  const last = l.columns - 1;
  if (l.at[5] < 0) out[5] = 0;
  for (let col = 0; col <= last; col++) {
    const k = l.slot[col];
    if (k < 0) {
      while (i < end && b[i] !== 44) i++;
      pos = i;
    } else if (k === 0) {
      const c = b[i];
      const ts = c >= 48 && c <= 57 && b[i + 4] === 45 ? isoTs(b, i, end) : decimal(b, i, end);
      if (ts !== ts) return false;
      out[0] = b[i + 4] === 45 ? ts : epochToMs(ts);
    } else {
      const v = decimal(b, i, end);
      if (v !== v) return false;
      out[k] = v;
    }
    i = pos;
    if (col < last) {
      if (b[i] !== 44) return false;
      i++;
    } else if (i !== end) return false;
  }
  return true;
}

/** The checks of the careful path on fast-path values; a candle or undefined (careful path). */
export function fastCandle(v: Float64Array): Candle | undefined {
  const ts = v[0], open = v[1], high = v[2], low = v[3], close = v[4], volume = v[5];
  if (
    low > 0 && high >= low && high >= open && high >= close && low <= open && low <= close &&
    volume >= 0
  ) return { ts, open, high, low, close, volume };
  return undefined;
}
