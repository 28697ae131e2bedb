/**
 * Structured JSON-lines logging through LogTape. Secrets are masked twice: by field name
 * (before formatting) and by pattern and literal value (on the formatted line), so a token
 * that slips into a message string is caught as well as one passed as a property.
 */
import {
  configureSync,
  getLogger,
  jsonLinesFormatter,
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
  const lineSink: Sink = (record: LogRecord) => write(redactText(jsonLinesFormatter(record)));
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
