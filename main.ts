/**
 * pg-solo-lite: argv → command. The only place that exits the process: 0 ok, 1 runtime
 * failure, 2 usage or configuration error, each failure with one line that says what to do.
 */
import process from "node:process";
import { findCommand } from "./cli/mod.ts";
import type { Io } from "./cli/mod.ts";
import { overview } from "./cli/mod.ts";
import { processEnv } from "./core/config.ts";
import { ConfigError, errorMessage, exitCodeFor, UsageError } from "./core/errors.ts";
import { redactText } from "./core/redact.ts";
import { flushLogs } from "./core/log.ts";

export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...args] = argv;
  try {
    if (name === undefined || name === "--help" || name === "-h") {
      io.out(overview());
      return name === undefined ? 2 : 0;
    }
    if (name === "--version") argv = ["version"];
    const entry = findCommand(argv[0]);
    if (!entry) throw new UsageError(`Unknown command "${name}"; run: pg-solo-lite help`);
    const command = (await entry.load()).default;
    if (args.includes("--help") || args.includes("-h")) {
      io.out(command.help);
      return 0;
    }
    await command.run(argv.slice(1), io);
    return 0;
  } catch (error) {
    const debug = io.env.LOG_LEVEL === "debug";
    if (error instanceof ConfigError || error instanceof UsageError) {
      io.err(redactText(error.message));
    } else {
      io.err(`Error: ${redactText(errorMessage(error))}`);
      if (debug && error instanceof Error && error.stack) io.err(redactText(error.stack));
    }
    return exitCodeFor(error);
  }
}

if (import.meta.main) {
  // Libraries' deprecation warnings (grammY's dependencies load node:punycode) would break the
  // JSON-lines format of standard error; they say nothing an operator can act on.
  (process as { noDeprecation?: boolean }).noDeprecation = true;
  const encoder = new TextEncoder();
  const io: Io = {
    env: processEnv(),
    out: (line) => Deno.stdout.writeSync(encoder.encode(line + "\n")),
    // Queued log lines first, so standard error keeps the order of events.
    err: (line) => {
      flushLogs();
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    },
    isTerminal: Deno.stderr.isTerminal(),
  };
  const code = await main(Deno.args, io);
  flushLogs();
  Deno.exit(code);
}
