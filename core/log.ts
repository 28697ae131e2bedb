/**
 * Structured JSON-lines logging through LogTape. Secrets are masked twice: by field name
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

export type Log = Logger;
export type LogLevel = "debug" | "info" | "warning" | "error";

export interface LogSetup {
  level: LogLevel;
  /** Literal secret values to mask wherever they appear. */
  secrets?: string[];
  /** Where formatted lines go; standard error by default, so stdout stays for command output. */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();
const writeStderr = (line: string) => {
  Deno.stderr.writeSync(encoder.encode(line));
};

export function setupLogging(setup: LogSetup): void {
  registerSecrets(setup.secrets ?? []);
  const write = setup.write ?? writeStderr;
  const lineSink: Sink = (record: LogRecord) => write(redactText(formatLine(record)));
  resetSync();
  configureSync({
    reset: true,
    sinks: { main: redactByField(lineSink, { fieldPatterns: SECRET_FIELDS }) },
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

/** A value inside the message as a person reads it: strings bare, the rest as JSON. */
function renderValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value, jsonSafe) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * One JSON line per record, the shape of LogTape's JSON-lines formatter, but with the message
 * rendered for people (`Ready on http://…`, not `Ready on "http://…"`); the values stay typed
 * in `properties`.
 */
export function formatLine(record: LogRecord): string {
  let message = "";
  record.message.forEach((part, i) => {
    message += i % 2 === 0 ? String(part) : renderValue(part);
  });
  const line = {
    "@timestamp": new Date(record.timestamp).toISOString(),
    level: LEVELS[record.level] ?? record.level.toUpperCase(),
    message,
    logger: record.category.join("."),
    properties: record.properties as unknown,
  };
  try {
    return JSON.stringify(line, jsonSafe) + "\n";
  } catch {
    // A cycle or an odd object in the properties: keep the line, not its properties.
    line.properties = { unserializable: String(Object.keys(record.properties)) };
    return JSON.stringify(line, jsonSafe) + "\n";
  }
}
