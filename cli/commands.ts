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

export const commands: CommandEntry[] = [
  {
    name: "serve",
    summary: "Run the service (webhook, agents, notifications)",
    load: () => import("./serve.ts"),
  },
  {
    name: "migrate",
    summary: "Apply pending database migrations",
    load: () => import("./migrate.ts"),
  },
  {
    name: "doctor",
    summary: "Check the configuration and the database; say what is set up",
    load: () => import("./doctor.ts"),
  },
  {
    name: "backtest",
    summary: "Run the strategy over historical candles and print its performance",
    load: () => import("./backtest.ts"),
  },
  {
    name: "strategies",
    summary: "Add, update or list the strategies alerts are mapped to",
    load: () => import("./strategies.ts"),
  },
  {
    name: "import-csv",
    summary: "Import signals from a CSV file through the webhook's validation and dedupe",
    load: () => import("./import_csv.ts"),
  },
  {
    name: "chats",
    summary: "Add, list or remove the Telegram chats that receive notifications",
    load: () => import("./chats.ts"),
  },
  {
    name: "outbox",
    summary: "Show the notification queue, or retry failed notifications",
    load: () => import("./outbox.ts"),
  },
  { name: "version", summary: "Print the version", load: () => import("./version.ts") },
  {
    name: "help",
    summary: "List the commands, or show one command's help",
    load: () => import("./help.ts"),
  },
];

export const findCommand = (name: string) => commands.find((c) => c.name === name);
