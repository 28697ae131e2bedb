import { UsageError } from "../core/errors.ts";
import { openDb } from "../db/mod.ts";
import { takeBackup } from "../ops/mod.ts";
import { type Command, configure, parse } from "./common.ts";

const command: Command = {
  name: "backup",
  help: `Usage: pg-solo-lite backup [--out DIR]

Writes one backup into DIR (default: BACKUP_DIR) as pg-solo-lite-<UTC time>.dump (a server:
pg_dump in custom format; needs pg_dump at least as new as the server) or .tar.gz (the embedded
database: a consistent copy of DATA_DIR, taken through the running serve when it runs). The
file is complete once it has its final name. Restore it with: pg-solo-lite restore FILE`,
  async run(args, io) {
    const { values } = parse("backup", args, { out: { type: "string" } }, { max: 0 });
    const config = configure(io);
    const dir = values.out ?? config.backup.dir;
    if (!dir) throw new UsageError("Where to? Pass --out DIR or set BACKUP_DIR");
    const db = await openDb(config);
    try {
      const b = await takeBackup(db, dir, new Date(), config.databaseUrl);
      io.out(`Backup written to ${b.path} (${b.bytes} bytes)`);
    } finally {
      await db.close();
    }
  },
};
export default command;
