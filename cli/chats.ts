import { UsageError } from "../core/errors.ts";
import { requireAccount } from "../execution/mod.ts";
import { addChat, listChats, removeChat } from "../notify/mod.ts";
import type { Severity } from "../notify/mod.ts";
import { type Command, configure, parse, table, withDb } from "./common.ts";

const SEVERITIES = ["INFO", "WARN", "CRITICAL"];

const help = `Usage:
  pg-solo-lite chats add <chat_id> [--min-severity INFO|WARN|CRITICAL] [--label L]
                                  [--account NAME | --operator]
  pg-solo-lite chats list [--json]
  pg-solo-lite chats remove <chat_id>

The Telegram chats that receive notifications. A chat gets every message at or above its
minimum severity (INFO < WARN < CRITICAL; default INFO). An operator chat hears every
account and the service itself; a chat tied to an account with --account hears only that
account's messages (its orders, fills, stops and refusals), so each person can have a chat of
their own; the admins' bot commands there show that account alone and change nothing.
--operator unties a chat again. Group ids are negative
(e.g. -1001234567890). Adding an existing chat updates it and reactivates it, for example
after a chat that blocked the bot (deactivated automatically) has unblocked it.
Removing a chat deactivates it and drops its queued messages; its history stays.
A group that Telegram upgrades to a supergroup gets a new id: the chat is moved there with
its settings, and the old id stays listed, deactivated, with a note naming the new one.

Examples:
  pg-solo-lite chats add 123456789 --label alice
  pg-solo-lite chats add -1001234567890 --min-severity WARN --label ops-group
  pg-solo-lite chats add 987654321 --label alice --account alice
  pg-solo-lite chats list --json
  pg-solo-lite chats remove 123456789`;

/** Negative ids look like flags to the parser: they are moved behind "--". */
function splitArgs(args: string[]): string[] {
  const ids = args.filter((a) => /^-\d+$/.test(a));
  return [...args.filter((a) => !/^-\d+$/.test(a)), "--", ...ids];
}

function chatId(value: string | undefined): number {
  const n = Number(value);
  if (!value || !/^-?\d{1,16}$/.test(value) || !Number.isSafeInteger(n) || n === 0) {
    throw new UsageError(
      `Invalid chat id "${
        value ?? ""
      }": expected a Telegram chat id such as 123456789 or -1001234567890`,
    );
  }
  return n;
}

const command: Command = {
  name: "chats",
  help,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === "add") {
      const { values, positionals } = parse("chats", splitArgs(rest), {
        "min-severity": { type: "string" },
        label: { type: "string" },
        account: { type: "string" },
        operator: { type: "boolean" },
      }, { min: 1, max: 1 });
      const id = chatId(positionals[0]);
      const severity = values["min-severity"]?.toUpperCase();
      if (severity !== undefined && !SEVERITIES.includes(severity)) {
        throw new UsageError(
          `Invalid --min-severity "${values["min-severity"]}": expected INFO, WARN or CRITICAL`,
        );
      }
      const label = values.label?.trim();
      if (label !== undefined && (label.length === 0 || label.length > 100)) {
        throw new UsageError("Invalid --label: expected 1 to 100 characters");
      }
      if (values.account !== undefined && values.operator) {
        throw new UsageError("--account and --operator exclude each other; give one");
      }
      const config = configure(io);
      const { created, held, chat } = await withDb(config, async (db) => {
        const accountId = values.operator
          ? null
          : values.account === undefined
          ? undefined
          : (await requireAccount(db, values.account)).id;
        return await addChat(db, {
          chatId: id,
          minSeverity: severity as Severity | undefined,
          label,
          accountId,
        });
      });
      io.out(
        `${created ? "Added" : "Updated"} chat ${chat.chat_id}${
          chat.label ? ` (${chat.label})` : ""
        }: receives ${chat.min_severity} and above${
          chat.account ? ` of account ${chat.account} only` : ""
        }${held > 0 ? `; ${held} message(s) queued before the tie will not be sent` : ""}`,
      );
      return;
    }
    if (sub === "list") {
      const { values } = parse("chats", rest, { json: { type: "boolean" } }, { max: 0 });
      const config = configure(io);
      const chats = await withDb(config, (db) => listChats(db));
      if (values.json) {
        io.out(JSON.stringify(chats));
        return;
      }
      io.out(table(
        chats.map((c) => ({
          chat_id: c.chat_id,
          label: c.label,
          min_severity: c.min_severity,
          active: c.active ? "yes" : "no",
          account: c.account ?? "all (operator)",
          pending: c.pending,
          note: c.deactivated_reason,
        })),
      ));
      return;
    }
    if (sub === "remove") {
      const { positionals } = parse("chats", splitArgs(rest), {}, { min: 1, max: 1 });
      const id = chatId(positionals[0]);
      const config = configure(io);
      const { dropped } = await withDb(config, (db) => db.transaction((tx) => removeChat(tx, id)));
      io.out(
        `Removed chat ${id}${dropped > 0 ? `; ${dropped} queued message(s) will not be sent` : ""}`,
      );
      return;
    }
    throw new UsageError(
      sub === undefined
        ? "Missing subcommand: expected add, list or remove; see: pg-solo-lite chats --help"
        : `Unknown subcommand "${sub}": expected add, list or remove; see: pg-solo-lite chats --help`,
    );
  },
};
export default command;
