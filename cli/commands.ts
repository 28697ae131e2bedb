/**
 * The subcommands: their names and one-line summaries (the only place a summary is written;
 * `help`, README's command table and its test read it here). Each command lives in its own file
 * and is imported only when run, so that a command which does not trade never pays for loading
 * ccxt. `help` itself is here, since it lists the others.
 */
import { UsageError } from "../core/errors.ts";
import { type Command, parse } from "./common.ts";

export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<{ default: Command }>;
}

const entry = (
  name: string,
  summary: string,
  load: () => Promise<{ default: Command }>,
): CommandEntry => ({ name, summary, load });

export const commands: CommandEntry[] = [
  entry("serve", "Run the service (webhook, agents, notifications)", () => import("./serve.ts")),
  entry("migrate", "Apply pending database migrations", () => import("./migrate.ts")),
  entry(
    "import-csv",
    "Import signals from a CSV file through the webhook's validation and dedupe",
    () => import("./import_csv.ts"),
  ),
  entry(
    "chats",
    "Add, list or remove the Telegram chats that receive notifications",
    () => import("./chats.ts"),
  ),
  entry(
    "strategies",
    "Add, update or list the strategies alerts are mapped to",
    () => import("./strategies.ts"),
  ),
  entry(
    "accounts",
    "Add, list or disable the exchange accounts the service trades on",
    () => import("./accounts.ts"),
  ),
  entry(
    "outbox",
    "Show the notification queue, or retry failed notifications",
    () => import("./outbox.ts"),
  ),
  entry(
    "orders",
    "List orders, newest first (--status S, --account NAME, --limit N, --json)",
    () => import("./orders.ts"),
  ),
  entry(
    "positions",
    "Show open positions (--all for closed ones too)",
    () => import("./positions.ts"),
  ),
  entry(
    "report",
    "Build or show daily and weekly performance reports",
    () => import("./report.ts"),
  ),
  entry(
    "status",
    "Show the accounts, whether entries are paused, and the open positions",
    () => import("./control.ts").then((m) => ({ default: m.status })),
  ),
  entry(
    "pause",
    "Stop new entries (exits and stops keep working) until resume",
    () => import("./control.ts").then((m) => ({ default: m.pause })),
  ),
  entry(
    "resume",
    "Lift the pauses: new entries are traded again",
    () => import("./control.ts").then((m) => ({ default: m.resume })),
  ),
  entry(
    "exit",
    "Sell an open position at market, after confirmation",
    () => import("./control.ts").then((m) => ({ default: m.exit })),
  ),
  entry(
    "cancel",
    "Cancel an active order on its exchange",
    () => import("./control.ts").then((m) => ({ default: m.cancel })),
  ),
  entry("ledger", "Verify the ledger's hash chain", () => import("./ledger.ts")),
  entry(
    "backtest",
    "Run the strategy over historical candles and print its performance",
    () => import("./backtest.ts"),
  ),
  entry(
    "candles",
    "Download historical candles for backtests, resumably",
    () => import("./candles.ts"),
  ),
  entry(
    "doctor",
    "Check the configuration and the database; say what is set up",
    () => import("./doctor.ts"),
  ),
  entry("backup", "Write a backup of the database into a directory", () => import("./backup.ts")),
  entry(
    "restore",
    "Restore a backup into an empty database or DATA_DIR, then migrate",
    () => import("./restore.ts"),
  ),
  entry("version", "Print the version", () => import("./version.ts")),
  entry(
    "help",
    "List the commands, or show one command's help",
    () => Promise.resolve({ default: helpCommand }),
  ),
];

export const findCommand = (name: string) => commands.find((c) => c.name === name);

export function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "pg-solo-lite: automated crypto trading with one process and one PostgreSQL database",
    "",
    "Usage: pg-solo-lite <command> [options]      (in a checkout: deno task cli <command>)",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Every command takes --help. Configuration comes from the environment; see README.md.",
    "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.",
  ].join("\n");
}

const helpCommand: Command = {
  name: "help",
  help: `Usage: pg-solo-lite help [command]

Without an argument, lists the commands; with one, prints that command's help.`,
  async run(args, io) {
    const { positionals } = parse("help", args, {}, { max: 1 });
    if (positionals.length === 0) return io.out(overview());
    const entry = findCommand(positionals[0]);
    if (!entry) {
      throw new UsageError(`Unknown command "${positionals[0]}"; run: pg-solo-lite help`);
    }
    io.out((await entry.load()).default.help);
  },
};
