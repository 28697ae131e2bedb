import type { Config } from "../core/config.ts";
import { errorMessage } from "../core/errors.ts";
import { openDb } from "../db/mod.ts";

/**
 * The doctor line for NOTIFIER_DATABASE_URL: the role connects, may work the outbox and the
 * chats, and may not read the ledger or the orders (least privilege really in place).
 */
export async function notifierRoleCheck(
  config: Config,
): Promise<{ name: string; ok: boolean; detail: string }> {
  const url = config.notifierDatabaseUrl;
  if (!url) {
    return {
      name: "notifier",
      ok: true,
      detail: "outbox worker uses DATABASE_URL (NOTIFIER_DATABASE_URL unset)",
    };
  }
  try {
    const db = await openDb({ databaseUrl: url, dbPoolSize: 1, dataDir: config.dataDir });
    try {
      const [r] = await db.query<
        {
          who: string;
          outbox: boolean;
          chats: boolean;
          follow: boolean;
          ledger: boolean;
          orders: boolean;
          su: boolean;
        }
      >(
        `select current_user as who,
                has_table_privilege('notification_outbox', 'select, update') as outbox,
                has_table_privilege('telegram_chats', 'select')
                  and has_column_privilege('telegram_chats', 'active', 'update') as chats,
                -- Following a group upgraded to a supergroup (migration 0029; true before it).
                coalesce(has_function_privilege(
                  to_regprocedure('migrate_telegram_chat(bigint, bigint)'), 'execute'), true)
                  as follow,
                has_table_privilege('transactions', 'select') as ledger,
                has_table_privilege('orders', 'select') as orders,
                (select rolsuper from pg_roles where rolname = current_user) as su`,
      );
      const problems: string[] = [];
      if (!r.outbox || !r.chats) {
        problems.push("cannot update the outbox or chats (run db/roles.sql)");
      }
      if (!r.follow) {
        problems.push(
          "cannot follow a group upgraded to a supergroup to its new id (run db/roles.sql)",
        );
      }
      if (r.su || r.ledger || r.orders) problems.push("has more rights than the outbox and chats");
      return {
        name: "notifier",
        ok: problems.length === 0,
        detail: `connects as ${r.who}${
          problems.length ? `: ${problems.join("; ")}` : "; outbox and chats only"
        }`,
      };
    } finally {
      await db.close();
    }
  } catch (error) {
    return { name: "notifier", ok: false, detail: `NOTIFIER_DATABASE_URL: ${errorMessage(error)}` };
  }
}
