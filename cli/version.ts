import { VERSION } from "../core/version.ts";
import { type Command, parse } from "./common.ts";

const command: Command = {
  name: "version",
  help: `Usage: pg-solo-lite version [--json]

Prints the program version, and the Deno and TypeScript versions it runs on.`,
  run(args, io) {
    const { values } = parse("version", args, { json: { type: "boolean" } }, { max: 0 });
    const info = { version: VERSION, deno: Deno.version.deno, typescript: Deno.version.typescript };
    io.out(values.json ? JSON.stringify(info) : `pg-solo-lite ${VERSION} (deno ${info.deno})`);
    return Promise.resolve();
  },
};
export default command;
