/** The public face of cli/: what other rooms may use. */

export { findCommand } from "./commands.ts";
export type { Io } from "./common.ts";
export { overview } from "./help.ts";
