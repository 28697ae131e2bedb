import { type Config, loadConfig, secretValues } from "../core/config.ts";
import { ConfigError, errorMessage, RuntimeError } from "../core/errors.ts";
import { setupLogging } from "../core/log.ts";
import { redactText } from "../core/redact.ts";
import { loadMigrations, privilegeWarning, verifyLedger } from "../db/mod.ts";
import { openDb } from "../db/mod.ts";
import {
  type Account,
  DEFAULT_ACCOUNT_ID,
  keysOf,
  listAccounts,
  missingKeys,
} from "../execution/mod.ts";
import { asConfigured } from "./accounts.ts";
import { type Command, parse } from "./common.ts";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Not a failure, but something the operator should change. */
  warn?: boolean;
}

const command: Command = {
  name: "doctor",
  help: `Usage: pg-solo-lite doctor [--json]

Checks the configuration (every problem listed), connects to the database and compares its
schema with the shipped migrations, and says what is and is not configured: exchange mode and
keys, Telegram delivery and operator chats, the TradingView webhook. Every enabled account
is checked: a live or sandbox one for its keys in the environment (ACCOUNT_<NAME>_API_KEY and
_API_SECRET) and, where the exchange says so, that its key can trade and cannot withdraw; a
paper one needs nothing. Never prints a secret.
Exit code 0 when everything needed to run is in order, 1 otherwise.`,
  async run(args, io) {
    const { values } = parse("doctor", args, { json: { type: "boolean" } }, { max: 0 });
    const checks: Check[] = [];
    // The environment's secrets are masked in what is printed too, as in the log.
    setupLogging({ level: "error", secrets: secretValues(io.env) });
    let config;
    try {
      config = loadConfig(io.env);
      checks.push({ name: "config", ok: true, detail: "valid" });
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [errorMessage(error)];
      checks.push({ name: "config", ok: false, detail: problems.join("; ") });
    }
    if (config) {
      const where = config.databaseUrl ? "server (DATABASE_URL)" : `embedded in ${config.dataDir}`;
      let accounts: Account[] = [];
      try {
        const db = await openDb(config);
        try {
          const shipped = await loadMigrations();
          const applied = await db.query<{ version: number }>(
            "select version from schema_migrations",
          ).catch(() => []);
          const have = new Set(applied.map((r) => Number(r.version)));
          const pending = shipped.filter((m) => !have.has(m.version)).map((m) => m.name);
          // Migrated by a newer version: serve and migrate refuse it (db/migrate.ts).
          const known = new Set(shipped.map((m) => m.version));
          const newer = [...have].filter((v) => !known.has(v));
          checks.push({
            name: "database",
            ok: newer.length === 0,
            detail: `${where}; ${
              newer.length > 0
                ? `migrated by a newer version of pg-solo-lite (migration(s) ${
                  newer.join(", ")
                } not shipped here): serve and migrate refuse it; run that version, or restore a backup from before it`
                : pending.length === 0
                ? "schema up to date"
                : `${pending.length} pending migration(s), applied at the next serve or migrate`
            }`,
          });
          if (pending.length === 0) {
            const ledger = await verifyLedger(db);
            checks.push({
              name: "ledger",
              ok: ledger.ok,
              detail: ledger.ok
                ? `hash chain holds: ${ledger.rows} row(s), head ${ledger.head.hash.slice(0, 16)}…`
                : `hash chain broken at row ${ledger.broken!.chainSeq}${
                  ledger.broken!.id !== null ? ` (transactions.id ${ledger.broken!.id})` : ""
                }: ${ledger.broken!.reason}`,
            });
          }
          const tooPowerful = await privilegeWarning(db).catch(() => undefined);
          if (tooPowerful) {
            checks.push({ name: "role", ok: true, warn: true, detail: tooPowerful });
          }
          if (pending.length === 0) accounts = await listAccounts(db);
          const chats = await db.query<{ n: number }>(
            pending.length === 0
              ? "select count(*)::int as n from telegram_chats where active and account_id is null"
              : "select count(*)::int as n from telegram_chats where active",
          ).catch(() => [{ n: 0 }]);
          const tg = config.telegram.botToken
            ? `bot token set; ${chats[0].n} active operator chat(s)${
              chats[0].n === 0 ? " (add one: pg-solo-lite chats add <chat_id>)" : ""
            }`
            : "off (TELEGRAM_BOT_TOKEN unset): notifications stay queued in the outbox";
          checks.push({ name: "telegram", ok: true, detail: tg });
        } finally {
          await db.close();
        }
      } catch (error) {
        checks.push({ name: "database", ok: false, detail: `${where}: ${errorMessage(error)}` });
      }
      const ex = config.exchange;
      // Builds the client without calling the exchange: an unknown id or a mode the exchange
      // does not offer (sandbox) shows here rather than after `serve` is up.
      let exchangeProblem: string | undefined;
      try {
        const { buildCcxtClient } = await import("../exchange/mod.ts");
        await buildCcxtClient(ex, false);
      } catch (error) {
        exchangeProblem = errorMessage(error);
      }
      checks.push({
        name: "exchange",
        ok: exchangeProblem === undefined,
        detail: exchangeProblem ??
          `${ex.id} in ${ex.mode} mode; API keys ${ex.apiKey ? "set" : "not set"}${
            ex.apiUrl ? `; REST base overridden by EXCHANGE_API_URL` : ""
          }`,
      });
      checks.push({
        name: "webhook",
        ok: true,
        detail: config.pine.token
          ? `POST /alerts/pine enabled on ${config.http.host}:${config.http.port}${
            config.pine.ipAllowlist ? `; IP allowlist of ${config.pine.ipAllowlist.length}` : ""
          }`
          : "disabled (PINE_WEBHOOK_TOKEN unset)",
      });
      if (exchangeProblem === undefined && ex.mode !== "paper") {
        const { exchangeChecks } = await import("../exchange/mod.ts");
        checks.push(...await exchangeChecks(ex));
      }
      checks.push(...await accountChecks(config, accounts));
      const { backupCheck } = await import("../ops/mod.ts");
      checks.push(await backupCheck(config, new Date()));
      if (config.notifierDatabaseUrl) {
        const { notifierRoleCheck } = await import("../ops/mod.ts");
        checks.push(await notifierRoleCheck(config));
      }
    }
    for (const c of checks) c.detail = redactText(c.detail);
    if (values.json) {
      io.out(JSON.stringify({ ok: checks.every((c) => c.ok), checks }));
    } else {
      for (const c of checks) {
        io.out(`${c.ok ? (c.warn ? "warn" : "ok  ") : "FAIL"}  ${c.name.padEnd(9)} ${c.detail}`);
      }
    }
    if (!checks.every((c) => c.ok)) throw new RuntimeError("Some checks failed; see above");
  },
};
export default command;

/**
 * One line per account, then the exchange's word on each live or sandbox key. The default
 * account is the one the "exchange" line above describes; its key checks run there.
 */
async function accountChecks(config: Config, rows: Account[]): Promise<Check[]> {
  if (rows.length === 0) return [];
  const accounts = rows.map((a) => asConfigured(config, a));
  const checks: Check[] = [{
    name: "accounts",
    ok: true,
    detail: accounts.map((a) =>
      `${a.name} (${a.mode} on ${a.exchangeId}${a.enabled ? "" : ", disabled"})`
    ).join(", "),
  }];
  // The clock is asked once per exchange: it is the same for every key.
  const clockChecked = new Set(config.exchange.mode === "paper" ? [] : [config.exchange.id]);
  for (const a of accounts) {
    if (!a.enabled || a.id === DEFAULT_ACCOUNT_ID) continue;
    const name = `account ${a.name}`;
    if (a.mode === "paper") {
      checks.push({ name, ok: true, detail: `paper on ${a.exchangeId}: no keys needed` });
      continue;
    }
    const missing = missingKeys(config, a);
    if (missing.length > 0) {
      checks.push({
        name,
        ok: false,
        detail: `${a.mode} on ${a.exchangeId}: ${missing.join("; ")}`,
      });
      continue;
    }
    const settings = { ...config.exchange, id: a.exchangeId, mode: a.mode, ...keysOf(config, a) };
    const { buildCcxtClient, exchangeChecks } = await import("../exchange/mod.ts");
    try {
      await buildCcxtClient(settings, false);
    } catch (error) {
      checks.push({
        name,
        ok: false,
        detail: `${a.mode} on ${a.exchangeId}: ${errorMessage(error)}`,
      });
      continue;
    }
    checks.push({ name, ok: true, detail: `${a.mode} on ${a.exchangeId}; API keys set` });
    for (const c of await exchangeChecks(settings)) {
      if (c.name === "clock" && clockChecked.has(a.exchangeId)) continue;
      if (c.name === "clock") clockChecked.add(a.exchangeId);
      checks.push({ ...c, name: `${a.name} ${c.name}` });
    }
  }
  return checks;
}
