/** The public face of cli/: what other rooms may use. */

export { commands, findCommand, overview } from "./commands.ts";
export type { Io } from "./common.ts";
