import { UsageError } from "../core/errors.ts";
import { openDb } from "../db/mod.ts";
import { takeBackup } from "../ops/mod.ts";
import { type Command, configure, parse } from "./common.ts";

/** A backup running longer than this says so, and again at each further interval. */
const NOTICE_AFTER_MS = 5_000;
const NOTICE_EVERY_MS = 15_000;

const command: Command = {
  name: "backup",
  help: `Usage: pg-solo-lite backup [--out DIR]

Writes one backup into DIR (default: BACKUP_DIR) as pg-solo-lite-<UTC time>.dump (a server:
pg_dump in custom format; needs pg_dump at least as new as the server) or .tar.gz (the embedded
database: a consistent copy of DATA_DIR, taken through the running serve when it runs). The
file is complete once it has its final name. A backup taking longer than BACKUP_TIMEOUT_S
(default 1800) fails and leaves nothing behind. Restore it with: pg-solo-lite restore FILE`,
  async run(args, io) {
    const { values } = parse("backup", args, { out: { type: "string" } }, { max: 0 });
    const config = configure(io);
    const dir = values.out ?? config.backup.dir;
    if (!dir) throw new UsageError("Where to? Pass --out DIR or set BACKUP_DIR");
    const db = await openDb(config);
    const t0 = performance.now();
    const limitS = config.backup.timeoutMs / 1000;
    // The dump gives no progress of its own (pg_dump, or PGlite inside a running serve).
    const notice = () =>
      io.err(
        `Still writing the backup: ${
          Math.round((performance.now() - t0) / 1000)
        } s so far (it gives up after ${limitS} s, BACKUP_TIMEOUT_S)`,
      );
    let every: ReturnType<typeof setInterval> | undefined;
    const first = setTimeout(() => {
      notice();
      every = setInterval(notice, NOTICE_EVERY_MS);
    }, NOTICE_AFTER_MS);
    try {
      const b = await takeBackup(db, dir, {
        now: new Date(),
        url: config.databaseUrl,
        timeoutMs: config.backup.timeoutMs,
      });
      io.out(`Backup written to ${b.path} (${b.bytes} bytes)`);
    } finally {
      clearTimeout(first);
      clearInterval(every);
      await db.close();
    }
  },
};
export default command;
