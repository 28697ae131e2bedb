/** The public face of service/: what other rooms may use. */

export { startService } from "./service.ts";
