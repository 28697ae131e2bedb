import { UsageError } from "../core/errors.ts";
import { commands, findCommand } from "./commands.ts";
import { type Command, parse } from "./common.ts";

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

const command: Command = {
  name: "help",
  summary: "List the commands, or show one command's help",
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
export default command;
