/**
 * The only module that reads the environment. Everything is validated once, every problem is
 * reported together, and no value of a secret ever appears in a message.
 */
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import { limits } from "./limits.ts";

export const SECRET_VARS = [
  "PINE_WEBHOOK_TOKEN",
  "BROKER_API_KEY",
  "BROKER_API_SECRET",
  "TELEGRAM_BOT_TOKEN",
  "DATABASE_URL",
  // A signed or tokenised URL (object store, Gist) is a credential.
  "PULL_ALERTS_URL",
  "NOTIFIER_DATABASE_URL",
] as const;

const bool = z
  .enum(["1", "0", "true", "false", "yes", "no", "on", "off"], {
    error: "expected true or false",
  })
  .transform((v) => ["1", "true", "yes", "on"].includes(v));

const intIn = (min: number, max: number) =>
  z.coerce.number({ error: `expected a whole number from ${min} to ${max}` }).int(
    `expected a whole number from ${min} to ${max}`,
  ).min(min, `expected a whole number from ${min} to ${max}`).max(
    max,
    `expected a whole number from ${min} to ${max}`,
  );

const numIn = (min: number, max: number) =>
  z.coerce.number({ error: `expected a number from ${min} to ${max}` })
    .refine((n) => Number.isFinite(n) && n >= min && n <= max, {
      error: `expected a number from ${min} to ${max}`,
    });

const url = z.url({ error: "expected a URL such as http://127.0.0.1:9000" });

const list = z.string().transform((v) =>
  v.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
);

// trading/symbol.ts UNIFIED_SYMBOL: copied because core/ may not import trading/.
const symbol = /^[A-Z0-9]{1,20}\/[A-Z0-9]{1,20}$/;

const schema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, {
    error: "expected a postgres:// or postgresql:// URL",
  }).optional(),
  NOTIFIER_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, {
    error: "expected a postgres:// or postgresql:// URL",
  }).optional(),
  DB_POOL_SIZE: intIn(1, 100).default(limits.dbPoolSize),
  DATA_DIR: z.string().min(1).default("./data"),
  BACKUP_DIR: z.string().min(1).optional(),
  BACKUP_AT: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, {
    error: "expected HH:MM (UTC), e.g. 03:00",
  }).default("03:00"),
  BACKUP_KEEP: intIn(1, 10_000).default(14),
  BACKUP_TIMEOUT_S: intIn(1, limits.backupTimeoutMaxS).default(limits.backupTimeoutS),
  HEARTBEAT_AT: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, {
    error: "expected HH:MM (UTC), e.g. 08:00",
  }).default("08:00"),
  APP_ENV: z.enum(["development", "test", "production"], {
    error: "expected development, test or production",
  }).default("development"),
  LOG_LEVEL: z.enum(["debug", "info", "warning", "error"], {
    error: "expected debug, info, warning or error",
  }).default("info"),
  LOG_FORMAT: z.enum(["auto", "json", "pretty"], {
    error: "expected auto, json or pretty",
  }).default("auto"),
  HTTP_HOST: z.string().min(1).default("127.0.0.1"),
  HTTP_PORT: intIn(0, 65535).default(8080),
  PINE_WEBHOOK_TOKEN: z.string().min(32, {
    error: (issue) =>
      `must be at least 32 characters (it has ${
        typeof issue.input === "string" ? issue.input.length : 0
      }); generate one with: openssl rand -hex 24`,
  }).optional(),
  PINE_IP_ALLOWLIST: list.optional(),
  TRUST_PROXY: bool.default(false),
  PULL_ALERTS_URL: z.url({
    protocol: /^https?$/,
    error: "expected an http:// or https:// URL of a file of alerts",
  }).optional(),
  PULL_ALERTS_INTERVAL_S: intIn(5, 86_400).default(60),
  EXCHANGE_ID: z.string().regex(/^[a-z0-9]+$/, { error: "expected a ccxt exchange id" }).default(
    "binance",
  ),
  EXCHANGE_MODE: z.enum(["paper", "sandbox", "live"], {
    error: "expected paper, sandbox or live",
  }).default("paper"),
  BROKER_API_KEY: z.string().min(1).optional(),
  BROKER_API_SECRET: z.string().min(1).optional(),
  EXCHANGE_API_URL: url.optional(),
  EXCHANGE_TIMEOUT_MS: intIn(100, 120_000).default(limits.exchangeTimeoutMs),
  PAPER_BALANCE: numIn(0, 1e12).default(10_000),
  TELEGRAM_BOT_TOKEN: z.string().regex(/^\d+:[A-Za-z0-9_-]{20,}$/, {
    error: "expected a bot token as given by @BotFather (digits, a colon, then the secret)",
  }).optional(),
  TELEGRAM_API_URL: url.optional(),
  TELEGRAM_PER_CHAT_PER_S: numIn(0, 1000).default(1),
  TELEGRAM_GLOBAL_PER_S: numIn(0, 10_000).default(30),
  TELEGRAM_ADMIN_IDS: list.pipe(
    z.array(
      z.string().regex(/^[1-9]\d{0,15}$/, {
        error:
          "expected Telegram user ids (whole numbers) separated by commas, e.g. 12345678,87654321",
      }),
    ),
  ).transform((ids) => [...new Set(ids.map(Number))]).default([]),
  SYMBOLS: list.pipe(
    z.array(z.string().regex(symbol, { error: "expected symbols like BTC/USDT,ETH/USDT" })).min(1),
  ).default(["BTC/USDT"]),
  TIMEFRAME: z.enum(["1m", "3m", "5m", "15m", "30m", "1h", "4h", "1d"], {
    error: "expected one of 1m, 3m, 5m, 15m, 30m, 1h, 4h, 1d",
  }).default("1m"),
  RISK_PER_TRADE_PCT: numIn(0.01, 3).default(1),
  MAX_DAILY_LOSS_PCT: numIn(0.1, 100).optional(),
  MAX_DRAWDOWN_PCT: numIn(0.1, 100).optional(),
  COOLDOWN_AFTER_STOP_MIN: intIn(0, 7 * 24 * 60).default(0),
  MAX_OPEN_POSITIONS: intIn(0, 10_000).default(0),
  SIGNAL_MAX_AGE_S: intIn(0, 7 * 86_400).default(300),
  STOP_LIMIT_OFFSET_PCT: numIn(0.01, 10).default(0.5),
  EXCHANGE_STOPS: bool.default(true),
  // Unset: trading/trail.ts DEFAULT_TRAIL_STEP_PCT (core cannot import trading/).
  TRAIL_STEP_PCT: numIn(0, 50).optional(),
  STRATEGY_ENABLED: bool.default(false),
  REPORTS_ENABLED: bool.default(true),
  PUBLIC_BASE_URL: z.url({
    protocol: /^https?$/,
    error: "expected the service's public address, e.g. https://trading.example.com",
  }).optional(),
  STRATEGY_NAME: z.string().min(1).default("ema_rsi"),
  EMA_FAST: intIn(2, 500).default(12),
  EMA_SLOW: intIn(3, 1000).default(26),
  RSI_PERIOD: intIn(2, 500).default(14),
  RSI_OVERBOUGHT: numIn(50, 100).default(70),
  RSI_OVERSOLD: numIn(0, 50).default(30),
  STOP_PCT: numIn(0.01, 50).default(2),
  TAKE_PROFIT_PCT: numIn(0.01, 500).default(4),
  CONFIDENCE_MIN: numIn(0, 1).default(0.5),
});

export type Env = z.input<typeof schema>;
type Parsed = z.output<typeof schema>;

export interface Config {
  databaseUrl?: string;
  dbPoolSize: number;
  /** The outbox worker's own connection, as the notifier role (least privilege). */
  notifierDatabaseUrl?: string;
  dataDir: string;
  /** The daily "alive" message, HH:MM UTC. */
  heartbeatAt: string;
  /**
   * The daily backup of `serve`, off when `dir` is unset; `timeoutMs` bounds every backup
   * (pg_dump, or the wait for a running serve's dump).
   */
  backup: { dir?: string; at: string; keep: number; timeoutMs: number };
  appEnv: Parsed["APP_ENV"];
  logLevel: Parsed["LOG_LEVEL"];
  /** auto: pretty on a terminal, JSON lines otherwise. */
  logFormat: Parsed["LOG_FORMAT"];
  http: { host: string; port: number };
  pine: { token?: string; ipAllowlist?: string[]; trustProxy: boolean };
  /** The polled file of alerts (PULL_ALERTS_URL); unset: the pull door is off. */
  pull: { url?: string; intervalS: number };
  exchange: {
    id: string;
    mode: Parsed["EXCHANGE_MODE"];
    apiKey?: string;
    apiSecret?: string;
    apiUrl?: string;
    timeoutMs: number;
    paperBalanceQuote: number;
  };
  /**
   * Keys of the accounts other than the default one, from `ACCOUNT_<NAME>_API_KEY`,
   * `ACCOUNT_<NAME>_API_SECRET` and the optional `ACCOUNT_<NAME>_API_URL`, by <NAME> (the
   * account's name upper-cased, `-` as `_`). Never stored: the database keeps a fingerprint.
   */
  accountKeys: Record<string, AccountKeys>;
  telegram: {
    botToken?: string;
    apiUrl?: string;
    perChatPerS: number;
    globalPerS: number;
    /** Telegram user ids allowed to command the bot (TELEGRAM_ADMIN_IDS); empty: nobody. */
    adminIds: number[];
  };
  symbols: string[];
  timeframe: Parsed["TIMEFRAME"];
  risk: {
    perTradePct: number;
    /** An entry signal older than this is not traded (0: no limit). */
    signalMaxAgeS: number;
    /** Entries pause for the rest of the UTC day after this loss of the day's first equity. */
    maxDailyLossPct?: number;
    /** Entries pause until `resume` after this fall from the equity's peak. */
    maxDrawdownPct?: number;
    /** No re-entry of a symbol this long after its stop-loss (0: off). */
    cooldownAfterStopMin?: number;
    /** No new position beyond this many open ones per account (0: no cap). */
    maxOpenPositions?: number;
    /** The limit of a protective stop-limit on the exchange sits this far (%) below its stop. */
    stopLimitOffsetPct?: number;
    /**
     * Rest each open position's stop on the exchange, or in the paper broker for a paper account
     * (EXCHANGE_STOPS, on by default); off or unset leaves the software watch alone.
     */
    exchangeStops?: boolean;
    /** A trailing stop moves by at least this much (%) of itself, so it does not churn. */
    trailStepPct?: number;
  };
  /** Daily and weekly performance reports (report/). */
  reports: { enabled: boolean; publicBaseUrl?: string };
  strategy: {
    enabled: boolean;
    name: string;
    emaFast: number;
    emaSlow: number;
    rsiPeriod: number;
    rsiOverbought: number;
    rsiOversold: number;
    stopPct: number;
    takeProfitPct: number;
    confidenceMin: number;
  };
}

export interface AccountKeys {
  apiKey?: string;
  apiSecret?: string;
  apiUrl?: string;
}

const ACCOUNT_VAR = /^ACCOUNT_([A-Z0-9_]{1,32})_(API_KEY|API_SECRET|API_URL)$/;

/** The variable holding one of an account's keys, e.g. ACCOUNT_ALICE_API_KEY. */
export function accountVar(name: string, what: "API_KEY" | "API_SECRET" | "API_URL"): string {
  return `ACCOUNT_${accountEnvName(name)}_${what}`;
}

export function accountEnvName(name: string): string {
  return name.toUpperCase().replaceAll("-", "_");
}

/** The ACCOUNT_<NAME>_* variables, validated (a URL must be one; key and secret come in pairs). */
function readAccountKeys(
  env: Record<string, string | undefined>,
  problems: string[],
): Record<string, AccountKeys> {
  const out: Record<string, AccountKeys> = {};
  for (const [k, raw] of Object.entries(env)) {
    const m = ACCOUNT_VAR.exec(k);
    const value = raw?.trim();
    if (!m || !value) continue;
    const keys = out[m[1]] ??= {};
    if (m[2] === "API_KEY") keys.apiKey = value;
    else if (m[2] === "API_SECRET") keys.apiSecret = value;
    else if (!url.safeParse(value).success) {
      problems.push(`${k}: expected a URL such as http://127.0.0.1:9000`);
    } else keys.apiUrl = value;
  }
  for (const [name, keys] of Object.entries(out)) {
    if (Boolean(keys.apiKey) !== Boolean(keys.apiSecret)) {
      problems.push(`ACCOUNT_${name}_API_KEY, ACCOUNT_${name}_API_SECRET: set both or neither`);
    }
  }
  return out;
}

// Longer than ~80 lines: one flat mapping of validated variables to the Config object.
/**
 * Validates an environment. Empty strings count as unset, so `FOO=` in a unit file does not
 * become a bad value.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== "") cleaned[key] = value.trim();
  }
  const result = schema.safeParse(cleaned);
  const problems: string[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(`${issue.path.join(".")}: ${issue.message}`);
    }
  }
  const e = result.data;
  const accountKeys = readAccountKeys(env, problems);
  if (e) {
    if (e.EMA_FAST >= e.EMA_SLOW) problems.push("EMA_FAST: must be smaller than EMA_SLOW");
    if (e.EXCHANGE_MODE === "live" && (!e.BROKER_API_KEY || !e.BROKER_API_SECRET)) {
      problems.push("BROKER_API_KEY, BROKER_API_SECRET: both are required when EXCHANGE_MODE=live");
    }
    if (e.NOTIFIER_DATABASE_URL && !e.DATABASE_URL) {
      problems.push(
        "NOTIFIER_DATABASE_URL: needs DATABASE_URL (the embedded database has no roles)",
      );
    }
    if (Boolean(e.BROKER_API_KEY) !== Boolean(e.BROKER_API_SECRET)) {
      problems.push("BROKER_API_KEY, BROKER_API_SECRET: set both or neither");
    }
  }
  if (problems.length > 0 || !e) {
    throw new ConfigError(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  ${p}`).join("\n"),
      problems,
    );
  }
  return {
    databaseUrl: e.DATABASE_URL,
    dbPoolSize: e.DB_POOL_SIZE,
    notifierDatabaseUrl: e.NOTIFIER_DATABASE_URL,
    dataDir: e.DATA_DIR,
    backup: {
      dir: e.BACKUP_DIR,
      at: e.BACKUP_AT,
      keep: e.BACKUP_KEEP,
      timeoutMs: e.BACKUP_TIMEOUT_S * 1000,
    },
    heartbeatAt: e.HEARTBEAT_AT,
    appEnv: e.APP_ENV,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    pine: {
      token: e.PINE_WEBHOOK_TOKEN,
      ipAllowlist: e.PINE_IP_ALLOWLIST,
      trustProxy: e.TRUST_PROXY,
    },
    pull: { url: e.PULL_ALERTS_URL, intervalS: e.PULL_ALERTS_INTERVAL_S },
    exchange: {
      id: e.EXCHANGE_ID,
      mode: e.EXCHANGE_MODE,
      apiKey: e.BROKER_API_KEY,
      apiSecret: e.BROKER_API_SECRET,
      apiUrl: e.EXCHANGE_API_URL,
      timeoutMs: e.EXCHANGE_TIMEOUT_MS,
      paperBalanceQuote: e.PAPER_BALANCE,
    },
    accountKeys,
    telegram: {
      botToken: e.TELEGRAM_BOT_TOKEN,
      apiUrl: e.TELEGRAM_API_URL,
      perChatPerS: e.TELEGRAM_PER_CHAT_PER_S,
      globalPerS: e.TELEGRAM_GLOBAL_PER_S,
      adminIds: e.TELEGRAM_ADMIN_IDS,
    },
    symbols: e.SYMBOLS,
    timeframe: e.TIMEFRAME,
    risk: {
      perTradePct: e.RISK_PER_TRADE_PCT,
      signalMaxAgeS: e.SIGNAL_MAX_AGE_S,
      maxDailyLossPct: e.MAX_DAILY_LOSS_PCT,
      maxDrawdownPct: e.MAX_DRAWDOWN_PCT,
      cooldownAfterStopMin: e.COOLDOWN_AFTER_STOP_MIN,
      maxOpenPositions: e.MAX_OPEN_POSITIONS,
      stopLimitOffsetPct: e.STOP_LIMIT_OFFSET_PCT,
      exchangeStops: e.EXCHANGE_STOPS,
      trailStepPct: e.TRAIL_STEP_PCT,
    },
    reports: {
      enabled: e.REPORTS_ENABLED,
      publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ""),
    },
    strategy: {
      enabled: e.STRATEGY_ENABLED,
      name: e.STRATEGY_NAME,
      emaFast: e.EMA_FAST,
      emaSlow: e.EMA_SLOW,
      rsiPeriod: e.RSI_PERIOD,
      rsiOverbought: e.RSI_OVERBOUGHT,
      rsiOversold: e.RSI_OVERSOLD,
      stopPct: e.STOP_PCT,
      takeProfitPct: e.TAKE_PROFIT_PCT,
      confidenceMin: e.CONFIDENCE_MIN,
    },
  };
}

/** The process environment: the one read of Deno.env in the code base. */
export function processEnv(): Record<string, string | undefined> {
  return Deno.env.toObject();
}

/** Secret values currently set, for the log redactor to mask by pattern. */
export function secretValues(env: Record<string, string | undefined>): string[] {
  const accountSecrets = Object.keys(env).filter((k) =>
    /^ACCOUNT_[A-Z0-9_]+_(API_KEY|API_SECRET)$/.test(k)
  );
  // Trimmed, as loadConfig uses them: a key with a trailing newline is masked as well.
  return [...SECRET_VARS, ...accountSecrets].map((k) => env[k]?.trim()).filter((v): v is string =>
    !!v && v.length >= 8
  );
}
