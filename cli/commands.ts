/**
 * The subcommands. Each lives in its own file and is imported only when run, so that a
 * command which does not trade never pays for loading ccxt.
 */
import type { Command } from "./common.ts";

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
    "outbox",
    "Show the notification queue, or retry failed notifications",
    () => import("./outbox.ts"),
  ),
  entry("orders", "List orders, newest first", () => import("./orders.ts")),
  entry("positions", "Show open positions", () => import("./positions.ts")),
  entry(
    "backtest",
    "Run the strategy over historical candles and print its performance",
    () => import("./backtest.ts"),
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
  entry("help", "List the commands, or show one command's help", () => import("./help.ts")),
];

export const findCommand = (name: string) => commands.find((c) => c.name === name);
