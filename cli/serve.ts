import { startService } from "../service/mod.ts";
import { errorMessage, RuntimeError } from "../core/errors.ts";
import { logger } from "../core/log.ts";
import { type Command, configure, parse } from "./common.ts";

const command: Command = {
  name: "serve",
  help: `Usage: pg-solo-lite serve

Runs the service in the foreground until SIGTERM or SIGINT: takes the single-instance lock on
the database, applies pending migrations, starts the HTTP server (GET /healthz, POST
/alerts/pine, GET /reports/:id) and the agents, and logs JSON lines to standard error.
A second serve on the same database refuses to start.

Configured entirely by environment variables (see README.md); an invalid value stops the start
with exit code 2 and a list of every problem.`,
  async run(args, io) {
    parse("serve", args, {}, { max: 0 });
    const config = configure(io);
    const log = logger("serve");
    // A stray rejection in some library callback must not end a process that holds positions:
    // it is logged and the service keeps serving what still works.
    const onRejection = (event: PromiseRejectionEvent) => {
      event.preventDefault();
      log.error("Unhandled rejection: {error}", { error: errorMessage(event.reason) });
    };
    globalThis.addEventListener("unhandledrejection", onRejection);
    const stopRequested = Promise.withResolvers<string>();
    let fatal: string | undefined;
    const service = await startService(config, {
      log,
      onFatal: (reason) => {
        fatal = reason;
        stopRequested.resolve("fatal");
      },
    });
    const onSignal = (sig: Deno.Signal) => () => stopRequested.resolve(sig);
    const handlers = (["SIGTERM", "SIGINT"] as const).map((sig) => {
      const h = onSignal(sig);
      Deno.addSignalListener(sig, h);
      return [sig, h] as const;
    });
    const sig = await stopRequested.promise;
    log.info("Received {signal}; finishing in-flight work", { signal: sig });
    await service.stop();
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    globalThis.removeEventListener("unhandledrejection", onRejection);
    log.info("Stopped");
    if (fatal) throw new RuntimeError(fatal);
  },
};
export default command;
