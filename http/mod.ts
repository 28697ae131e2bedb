/** The public face of http/: what other rooms may use. */

export { healthRoute, router } from "./server.ts";
