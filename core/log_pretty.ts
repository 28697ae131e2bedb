/**
 * The log for people: one line per event, `HH:MM:SS.mmm LEVEL logger message key=value…`,
 * coloured by level on a terminal. The properties already shown in the message are not
 * repeated. Masking is the caller's (the same as for JSON lines).
 */
import type { LogRecord } from "@logtape/logtape";

const LEVEL: Record<string, [string, string]> = {
  trace: ["TRACE", "\x1b[90m"],
  debug: ["DEBUG", "\x1b[90m"],
  info: ["INFO ", "\x1b[32m"],
  warning: ["WARN ", "\x1b[33m"],
  error: ["ERROR", "\x1b[31m"],
  fatal: ["FATAL", "\x1b[1;31m"],
};
const DIM = "\x1b[2m", RESET = "\x1b[0m";

const PLACEHOLDER = /\{([^{}]+)\}/g;

/** `render` is the message renderer shared with the JSON format (values shown for people). */
export function formatPretty(
  record: LogRecord,
  message: string,
  render: (value: unknown) => string,
  colour: boolean,
): string {
  const used = new Set<string>();
  if (typeof record.rawMessage === "string") {
    for (const m of record.rawMessage.matchAll(PLACEHOLDER)) used.add(m[1].trim());
  }
  let extra = "";
  for (const [key, value] of Object.entries(record.properties)) {
    if (used.has(key)) continue;
    extra += ` ${key}=${render(value)}`;
  }
  const [name, tint] = LEVEL[record.level] ?? [record.level.toUpperCase(), ""];
  const time = new Date(record.timestamp).toISOString().slice(11, 23);
  // One line per event: a stack trace or a multi-line value stays on its line.
  const text = (message + extra).replace(/\r?\n/g, "\\n");
  const logger = record.category.slice(1).join(".") || record.category.join(".");
  return colour
    ? `${DIM}${time}${RESET} ${tint}${name}${RESET} ${DIM}${logger}${RESET} ${text}\n`
    : `${time} ${name} ${logger} ${text}\n`;
}
