/**
 * Logging through LogTape: JSON lines for machines, or one pretty line per event for people
 * (LOG_FORMAT; auto picks pretty on a terminal), written in batches off the request's path. Secrets are masked twice: by field name
 * (before formatting) and by pattern and literal value (on the formatted line), so a token
 * that slips into a message string is caught as well as one passed as a property.
 */
import {
  configureSync,
  getLogger,
  type Logger,
  type LogRecord,
  resetSync,
  type Sink,
} from "@logtape/logtape";
import { redactByField } from "@logtape/redaction";
import { redactText, registerSecrets, SECRET_FIELDS } from "./redact.ts";
import { type BatchSink, batchSink, writeStderrAll } from "./log_sink.ts";
import { formatPretty } from "./log_pretty.ts";

export type Log = Logger;
export type LogLevel = "debug" | "info" | "warning" | "error";

export interface LogSetup {
  level: LogLevel;
  /** Literal secret values to mask wherever they appear. */
  secrets?: string[];
  /**
   * Where formatted lines go, one call per line, synchronously (tests). Without it, lines go
   * to standard error in batches (log_sink.ts), so stdout stays for command output.
   */
  write?: (line: string) => void;
  /** LOG_FORMAT: auto is pretty on a terminal, JSON lines otherwise. JSON by default. */
  format?: "auto" | "json" | "pretty";
  /** Whether standard error is a terminal (default: asked of Deno). */
  isTerminal?: boolean;
}

let current: BatchSink | undefined;
let unloadHooked = false;

/** Writes every queued log line now; `main` calls it before it exits, `unload` too. */
export function flushLogs(): void {
  current?.flush();
}

function noColour(): boolean {
  try {
    return (Deno.env.get("NO_COLOR") ?? "") !== "";
  } catch {
    return false;
  }
}

export function setupLogging(setup: LogSetup): void {
  registerSecrets(setup.secrets ?? []);
  const format = setup.format ?? "json";
  const terminal = setup.isTerminal ?? Deno.stderr.isTerminal();
  const pretty = format === "pretty" || (format === "auto" && terminal);
  const colour = pretty && terminal && !noColour();
  // The same masking for both formats: by field name, then by pattern and value on the text.
  const text = (record: LogRecord) =>
    redactText(
      pretty
        ? formatPretty(record, renderMessage(record), renderValue, colour)
        : formatLine(record),
    );
  let mainSink: Sink;
  flushLogs();
  current = undefined;
  if (setup.write) {
    const write = setup.write;
    mainSink = byField((record) => write(text(record)));
  } else {
    let out: string[] = [];
    const collect = byField((record) => out.push(text(record)));
    current = batchSink((record, into) => {
      out = into;
      collect(record);
    }, writeStderrAll);
    mainSink = current.sink;
    if (!unloadHooked) {
      unloadHooked = true;
      globalThis.addEventListener("unload", flushLogs);
    }
  }
  resetSync();
  configureSync({
    reset: true,
    sinks: { main: mainSink },
    loggers: [
      { category: ["pg-solo-lite"], lowestLevel: setup.level, sinks: ["main"] },
      // Start and stop lines at info whatever LOG_LEVEL says: wrappers wait for "Ready on",
      // and raising them to warning would make routine events look like problems.
      {
        category: ["pg-solo-lite", LIFECYCLE],
        lowestLevel: "info",
        sinks: ["main"],
        parentSinks: "override",
      },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}

/**
 * Masking by field name (LogTape's redactByField), skipped for the common record it would copy
 * unchanged: flat properties (no objects or arrays), none of whose names, nor any word of the
 * message template, matches SECRET_FIELDS. The per-alert lines are such records, and the
 * generic walk cost more than the rest of their formatting.
 */
function byField(sink: Sink): Sink {
  const masked = redactByField(sink, { fieldPatterns: SECRET_FIELDS });
  return (record) => (plainRecord(record) ? sink(record) : masked(record));
}

function plainRecord(record: LogRecord): boolean {
  if (typeof record.rawMessage !== "string") return false;
  if (namesSecret(record.rawMessage)) return false;
  for (const key in record.properties) {
    const v = record.properties[key];
    if (typeof v === "object" && v !== null) return false;
    if (namesSecret(key)) return false;
  }
  return true;
}

/**
 * Whether a message template or a property name matches SECRET_FIELDS, remembered: they are
 * the same few literals on every line (a bounded cache, cleared when full).
 */
const secretNames = new Map<string, boolean>();
function namesSecret(text: string): boolean {
  let hit = secretNames.get(text);
  if (hit === undefined) {
    hit = SECRET_FIELDS.some((p) => p.test(text));
    if (secretNames.size >= 1_000) secretNames.clear();
    secretNames.set(text, hit);
  }
  return hit;
}

/** The category of the few lines every LOG_LEVEL keeps (e.g. `serve`'s "Ready on …"). */
export const LIFECYCLE = "lifecycle";

/** A logger for one part of the service: `logger("webhook")`. */
export function logger(...category: string[]): Log {
  return getLogger(["pg-solo-lite", ...category]);
}

const LEVELS: Record<string, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARN",
  error: "ERROR",
  fatal: "FATAL",
};

/**
 * Values in JSON: bigints as strings, errors as their name and message, and strings masked
 * before JSON escapes them (a secret holding a quote would not match on the escaped line).
 */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "string") return redactText(value);
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
  return value;
}

/**
 * Whether JSON.stringify writes a string otherwise than as it is between quotes: quotes,
 * backslashes, control characters, and (conservatively) any surrogate.
 */
// deno-lint-ignore no-control-regex -- the control characters are what JSON escapes
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * Whether a line of these values needs jsonSafe. Without it JSON.stringify takes its fast path
 * (the webhook's per-alert line: 0.3–0.9 µs less of its ~3 µs formatLine). Numbers, booleans and
 * strings JSON writes as they are need nothing: the line is masked as a whole after
 * formatting, which finds in such a string all that masking it alone would.
 */
function needsReplacer(message: string, properties: Record<string, unknown>): boolean {
  if (JSON_ESCAPED.test(message)) return true;
  for (const key in properties) {
    const v = properties[key];
    if (typeof v === "string") {
      if (JSON_ESCAPED.test(v)) return true;
    } else if (typeof v !== "number" && typeof v !== "boolean" && v !== null && v !== undefined) {
      return true;
    }
  }
  return false;
}

/** A value inside the message as a person reads it: strings bare, the rest as JSON. */
function renderValue(value: unknown): string {
  if (typeof value === "string") return value;
  // (What the replacer would give for them, without its cost.)
  if (typeof value === "number" || typeof value === "boolean") return JSON.stringify(value);
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value, jsonSafe) ?? String(value);
  } catch {
    return String(value);
  }
}

function renderMessage(record: LogRecord): string {
  let message = "";
  record.message.forEach((part, i) => {
    message += i % 2 === 0 ? String(part) : renderValue(part);
  });
  return message;
}

/**
 * One JSON line per record, the shape of LogTape's JSON-lines formatter, but with the message
 * rendered for people (`Ready on http://…`, not `Ready on "http://…"`); the values stay typed
 * in `properties`. The caller masks the whole line afterwards (setupLogging's `text`).
 */
export function formatLine(record: LogRecord): string {
  const message = renderMessage(record);
  const line = {
    "@timestamp": new Date(record.timestamp).toISOString(),
    level: LEVELS[record.level] ?? record.level.toUpperCase(),
    message,
    logger: record.category.join("."),
    properties: record.properties as unknown,
  };
  try {
    const replacer = needsReplacer(message, record.properties) ? jsonSafe : undefined;
    return JSON.stringify(line, replacer) + "\n";
  } catch {
    // A cycle or an odd object in the properties: keep the line, not its properties.
    line.properties = { unserializable: String(Object.keys(record.properties)) };
    return JSON.stringify(line, jsonSafe) + "\n";
  }
}
