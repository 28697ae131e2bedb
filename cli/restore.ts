import { restoreBackup } from "../ops/mod.ts";
import { type Command, configure, parse } from "./common.ts";

const command: Command = {
  name: "restore",
  help: `Usage: pg-solo-lite restore FILE [--force]

Restores a file written by \`pg-solo-lite backup\`: a .dump into the (empty) database of
DATABASE_URL with pg_restore, or a .tar.gz into the (empty) embedded DATA_DIR; then applies
pending migrations. Stop serve first: the restore holds serve's single-instance lock, so it is
refused while serve runs, and serve refuses to start until it is done. A target that already
holds data is refused unless --force: a server database's objects are then replaced; an
embedded database is moved aside to DATA_DIR/pg.before-restore-<time>, not deleted.
An embedded restore that is interrupted (killed, power lost) leaves DATA_DIR/restore.unfinished:
every command then refuses to open DATA_DIR and says where the previous data is, until the same
restore is run again (it moves the incomplete database to DATA_DIR/pg.interrupted-restore-<time>).
Notifications still queued in the backup are delivered by the next serve, once each.
With --force, the orders of the replaced database the backup does not have are named (on
standard error): the restored database knows nothing of them.`,
  async run(args, io) {
    const { values, positionals } = parse("restore", args, { force: { type: "boolean" } }, {
      min: 1,
      max: 1,
    });
    const config = configure(io);
    const r = await restoreBackup(config, positionals[0], {
      force: values.force ?? false,
      now: new Date(),
    });
    if (r.incompleteAside) {
      io.out(`The interrupted restore's incomplete database was moved to ${r.incompleteAside}`);
    }
    if (r.movedAside) io.out(`The previous data was moved to ${r.movedAside}`);
    io.out(
      `Restored ${positionals[0]} into ${
        r.kind === "server" ? "the DATABASE_URL database" : config.dataDir
      }; ${r.migrationsApplied.length} migration(s) applied after it`,
    );
    const lost = r.ordersNotInBackup ?? [];
    if (lost.length > 0) {
      const shown = lost.slice(0, 10).map((o) => `${o.clientOrderId} ${o.symbol} ${o.status}`);
      io.err(
        `WARNING: ${lost.length} order(s) of the replaced database are not in the backup (placed after it was taken): ${
          shown.join(", ")
        }${
          lost.length > shown.length ? ", …" : ""
        }. serve and its reconciliation know nothing of them: check those orders, the open orders and the balances on the exchange before starting serve`,
      );
    }
    if (r.kind === "server") {
      io.out(
        r.rolesApplied
          ? "The rights of pgsl_app and pgsl_notifier were applied again (db/roles.sql)"
          : "Grants are not restored: create the roles with db/roles.sql before serving as them",
      );
    }
  },
};
export default command;
