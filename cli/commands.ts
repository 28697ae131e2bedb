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
    name: "orders",
    summary: "List orders: orders list [--status S] [--json]",
    load: () => import("./orders.ts"),
  },
  {
    name: "positions",
    summary: "Show open positions [--all] [--json]",
    load: () => import("./positions.ts"),
  },
  { name: "version", summary: "Print the version", load: () => import("./version.ts") },
  {
    name: "help",
    summary: "List the commands, or show one command's help",
    load: () => import("./help.ts"),
  },
];

export const findCommand = (name: string) => commands.find((c) => c.name === name);
