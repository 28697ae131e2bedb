import { migrate } from "../db/mod.ts";
import { openDb } from "../db/mod.ts";
import { type Command, configure, parse } from "./common.ts";

const command: Command = {
  name: "migrate",
  help: `Usage: pg-solo-lite migrate

Applies the pending numbered migrations from db/migrations, each in its own transaction under
an advisory lock, and records each with its checksum. Safe to run concurrently and repeatedly.
Stops with exit code 2 if an applied migration file was edited.

Uses DATABASE_URL, or the embedded database in DATA_DIR when it is unset.`,
  async run(args, io) {
    parse("migrate", args, {}, { max: 0 });
    const config = configure(io);
    const db = await openDb(config);
    try {
      const result = await migrate(db, { onApply: (name) => io.out(`applied ${name}`) });
      io.out(
        result.applied.length === 0
          ? `Schema is up to date (version ${result.current})`
          : `Applied ${result.applied.length} migration(s); schema version ${result.current}`,
      );
    } finally {
      await db.close();
    }
  },
};
export default command;
