// Longer than ~300 lines: the webhook handler and its component.
/**
 * POST /alerts/pine: TradingView's webhook as an authenticated inbox. Every authenticated
 * request is stored (accepted, duplicate, conflicting or invalid) before it is answered; the
 * answer never waits for the exchange. Unauthenticated requests are only counted and logged.
 */
import { registerSecrets } from "../core/redact.ts";
import type { Component, ServiceContext, WorkQueue } from "../runtime/mod.ts";
import type { Config } from "../core/config.ts";
import { DatabaseUnavailableError, errorMessage, nextStep } from "../core/errors.ts";
import { limits } from "../core/limits.ts";
import { type Log, logger } from "../core/log.ts";
import type { Db } from "../db/mod.ts";
import {
  intakeAlert,
  type IntakeResult,
  isLateWriteError,
  receivedAlertIds,
  recordInvalid,
  type SymbolResolver,
  symbolResolver,
} from "./intake.ts";
import {
  clientAddress,
  contentTypeRefusal,
  holdsSecret,
  inexactJsonNumber,
  inexactNumberError,
  ipAllowed,
  looseAuthTokens,
  looseUnescape,
  readBodyLimited,
  repeatedAlertField,
  repeatedFieldError,
  secretLiterals,
  tokenChecker,
} from "./request.ts";
import { isDeadlineError, timeoutGroup } from "../core/deadline.ts";
import { json } from "../runtime/mod.ts";

export interface PineDeps {
  db: Db;
  config: Pick<Config, "pine" | "exchange">;
  log: Log;
  queue?: WorkQueue<number>;
  symbols?: SymbolResolver;
}

export interface PineStats {
  accepted: number;
  duplicate: number;
  conflict: number;
  rejected: number;
  unauthorized: number;
  forbidden: number;
  tooLarge: number;
  unsupportedType: number;
  /** Refused because a field other than auth_token holds the token: nothing stored. */
  tokenInFields: number;
  unavailable: number;
}

/** A Route handler (the route params are not needed) with its counters. */
export type PineHandler = ((req: Request, info: { remoteAddr: string }) => Promise<Response>) & {
  stats: PineStats;
};

const MASK = "[REDACTED]";
const NOT_KEPT = "[not kept: a body that is not JSON and holds the webhook token]";

// Longer than ~80 lines: the webhook's checks in the order they run (size, address, token, parse, store), each a few lines.
/** The handler of POST /alerts/pine; `stats` counts the outcomes since start. */
export function pineHandler(deps: PineDeps): PineHandler {
  const token = deps.config.pine.token;
  if (!token) throw new Error("Assertion failed: the Pine handler needs PINE_WEBHOOK_TOKEN");
  // Masked wherever it might appear in stored text (a payload field other than auth_token).
  registerSecrets([token]);
  const { db, log } = deps;
  const tokenOk = tokenChecker(token);
  const allowlist = deps.config.pine.ipAllowlist;
  const trustProxy = deps.config.pine.trustProxy;
  const symbols = deps.symbols ?? symbolResolver(db, deps.config.exchange.id);
  // A little longer than the write's own deadline: a write that committed in time is answered
  // 202, and one still waiting is refused by the database (see docs/inbound.md).
  const replyBound = timeoutGroup(limits.webhookDbTimeoutMs + limits.webhookReplyMarginMs);
  const stats: PineStats = {
    accepted: 0,
    duplicate: 0,
    conflict: 0,
    rejected: 0,
    unauthorized: 0,
    forbidden: 0,
    tooLarge: 0,
    unsupportedType: 0,
    tokenInFields: 0,
    unavailable: 0,
  };
  // Refused requests are logged at most once a second: a scanner must not flood the log.
  let lastRefusalLogMs = 0;
  const refused = (
    what: "unauthorized" | "forbidden" | "tooLarge" | "unsupportedType" | "tokenInFields",
    remote: string,
  ) => {
    stats[what]++;
    const now = Date.now();
    if (now - lastRefusalLogMs < 1_000) return;
    lastRefusalLogMs = now;
    log.warn("Refused a Pine alert ({reason}) from {remote}; {count} refused so far", {
      reason: what,
      remote,
      count: stats.unauthorized + stats.forbidden + stats.tooLarge + stats.unsupportedType +
        stats.tokenInFields,
    });
  };

  const handler = async (
    req: Request,
    info: { remoteAddr: string },
  ): Promise<Response> => {
    // The HTTP arrival: stored as received_at, so freshness rules see the real age, and the
    // start of the write's deadline.
    const arrival = new Date();
    const remote = clientAddress(req, info.remoteAddr, trustProxy);
    if (allowlist && allowlist.length > 0 && !ipAllowed(remote, allowlist)) {
      await req.body?.cancel().catch(() => {});
      refused("forbidden", remote);
      return json({ error: "address not allowed" }, 403);
    }
    const typeRefusal = contentTypeRefusal(req.headers.get("content-type"));
    if (typeRefusal) {
      await req.body?.cancel().catch(() => {});
      refused("unsupportedType", remote);
      return json({ error: typeRefusal }, 415);
    }
    const read = await readBodyLimited(req, limits.webhookBodyMaxBytes);
    if (!read.ok) {
      refused("tooLarge", remote);
      return json({ error: `body over ${limits.webhookBodyMaxBytes} bytes` }, 413);
    }
    let body: unknown;
    let parseError: string | undefined;
    let parsed = false;
    try {
      body = JSON.parse(read.text);
      parsed = true;
    } catch (error) {
      // The parser's own message quotes part of the body, which may hold the token: only the
      // position is kept.
      const at = /position (\d+)/.exec(errorMessage(error))?.[1];
      parseError = `Body is not valid JSON${at ? ` (at position ${at})` : ""}; ` +
        `send the alert message as a JSON object`;
    }
    const fields = isObject(body) ? body : undefined;
    // A JSON object written without a single escape (what TradingView sends): its decoded
    // strings are pieces of the raw text, so the token checks below can count in the text.
    const plain = fields !== undefined && !read.text.includes("\\");
    // Each given token is compared once (a digest each); the body's answer is kept for the
    // check below.
    const bodyTokenOk = tokenOk(fields?.auth_token);
    // A body that is not JSON and gives the token as its auth_token: what TradingView posts
    // for a message with a JSON mistake (a trailing comma, an unquoted placeholder, curly
    // quotes). It is answered with its parse error, stored without its text (below).
    let bodyless = false;
    if (!bodyTokenOk && !tokenOk(req.headers.get("x-auth-token"))) {
      if (parsed || !looseAuthTokens(read.text).some(tokenOk)) {
        refused("unauthorized", remote);
        return json({ error: "missing or wrong token" }, 401);
      }
      bodyless = true;
    }
    // The token anywhere but auth_token (decoded, so in any escaped form; in a key too; in a
    // key given twice, whose first value JSON.parse drops but the raw text keeps; in the text
    // of a body that is not JSON, escapes decoded): refused, and nothing of the request is
    // kept, not even an invalid-alert record, since every stored form would have to be masked.
    if (!bodyless && tokenOutsideAuthField(read.text, parsed, fields, token, bodyTokenOk, plain)) {
      refused("tokenInFields", remote);
      return json({
        error: "The webhook token appears in a field of the alert (only auth_token or the " +
          "X-Auth-Token header may hold it); nothing was stored",
      }, 422);
    }
    // (What PostgreSQL cannot store — nesting too deep, NUL, unpaired surrogates — is refused by
    // intakeAlert, for every door; a number a double cannot keep needs the text, so here.)
    const inexact = parsed ? inexactJsonNumber(read.text) : undefined;
    if (inexact) parseError = inexactNumberError(inexact);
    const repeated = fields && !inexact ? repeatedAlertField(read.text, fields) : undefined;
    if (repeated) parseError = repeatedFieldError(repeated);
    // An undecoded body cannot be searched for every escaped form of the token: not kept.
    const rawBody = bodyless ? NOT_KEPT : storableRaw(read.text, token, fields, plain);
    const payload = parseError === undefined && fields ? withoutToken(fields) : undefined;
    const acceptBy = new Date(arrival.getTime() + limits.webhookDbTimeoutMs);
    const input = {
      source: "pine" as const,
      rawBody,
      remoteAddr: remote,
      payload,
      receivedAt: arrival,
      acceptBy,
    };
    let result: IntakeResult;
    try {
      const work = parseError === undefined
        ? intakeAlert(db, { ...input, body: payload ?? body }, { queue: deps.queue, symbols })
        : recordInvalid(db, { ...input, error: parseError }, { queue: deps.queue });
      result = await replyBound(work);
    } catch (error) {
      // A write the database cancelled or refused for the moment (a statement timeout or
      // pg_cancel_backend, a deadlock, too many connections: rolled back, nothing stored) is
      // a 503 too, which the sender re-sends.
      if (
        !(error instanceof DatabaseUnavailableError) && !isDeadlineError(error) &&
        !isLateWriteError(error) && nextStep(error).step !== "retry"
      ) {
        throw error;
      }
      stats.unavailable++;
      log.error("Pine alert from {remote} not stored, answered 503: {error}", {
        remote,
        error: errorMessage(error),
      });
      return json({ error: "database unavailable; retry later" }, 503);
    }
    stats[result.outcome]++;
    return respond(result, log, remote);
  };
  return Object.assign(handler, { stats });
}

function respond(result: IntakeResult, log: Log, remote: string): Response {
  const alert_id = result.alertId;
  switch (result.outcome) {
    case "accepted":
      log.info("Accepted Pine alert {alertId}: {action} {symbol} ({strategy})", {
        alertId: alert_id,
        action: result.decision.action,
        symbol: result.decision.symbol,
        strategy: result.decision.strategy,
      });
      return json({ alert_id, status: "accepted" }, 202);
    case "duplicate":
      log.info("Duplicate Pine alert (original {alertId}) from {remote}", {
        alertId: alert_id,
        remote,
      });
      return json({ alert_id, status: "duplicate" }, 200);
    case "conflict":
      log.warn("Conflicting Pine alert {alertId}: {error}", {
        alertId: alert_id,
        error: result.error,
      });
      return json({ alert_id, status: "conflict", error: result.error }, 409);
    case "rejected":
      log.warn("Invalid Pine alert {alertId}: {error}", { alertId: alert_id, error: result.error });
      return json({ alert_id, status: "rejected", error: result.error }, 422);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The raw body as stored: the literal token masked. When the token was escaped in the JSON
 * text (`"\u0072eltok…"`), the literal mask misses it: the decoded body is stored instead,
 * auth_token masked.
 */
function storableRaw(
  text: string,
  token: string,
  fields: Record<string, unknown> | undefined,
  plain: boolean,
): string {
  const masked = text.split(token).join(MASK);
  if (!fields) return masked;
  // Without escapes the token sat inside a string literal, so the mask kept the JSON valid.
  if (plain && !masked.includes(token)) return masked;
  try {
    JSON.parse(masked);
    if (secretLiterals(masked, token) === 0) return masked;
  } catch {
    // The mask cut through an escape: fall through to the decoded form.
  }
  return JSON.stringify({ ...fields, auth_token: MASK });
}

/**
 * Whether the token is in the body anywhere but one auth_token value that is the token
 * itself: in a JSON body, any other decoded string literal holding it (keys, nested values,
 * a key's dropped duplicate); in any other body, the text with its escapes decoded.
 */
function tokenOutsideAuthField(
  text: string,
  parsed: boolean,
  fields: Record<string, unknown> | undefined,
  token: string,
  bodyTokenOk: boolean,
  plain: boolean,
): boolean {
  if (!parsed) return looseUnescape(text).includes(token);
  const allowed = fields !== undefined && bodyTokenOk ? 1 : 0;
  // Without escapes every decoded string is a piece of the text: the token found no more
  // often than the one allowed auth_token value holds it is in no other string.
  if (plain && occurrences(text, token) <= allowed) return false;
  if (fields && holdsSecret(withoutToken(fields), token)) return true;
  return secretLiterals(text, token) > allowed;
}

function occurrences(text: string, part: string): number {
  let n = 0;
  for (let at = text.indexOf(part); at !== -1; at = text.indexOf(part, at + part.length)) n++;
  return n;
}

function withoutToken(fields: Record<string, unknown>): Record<string, unknown> {
  const { auth_token: _dropped, ...rest } = fields;
  return rest;
}

/**
 * The inbound component of `serve`: mounts the webhook when PINE_WEBHOOK_TOKEN is set and, at
 * start, hands the alerts a crash left in RECEIVED back to execution.
 */
export function inboundComponent(ctx: ServiceContext): Promise<Component> {
  const { db, config, queues } = ctx;
  const log = logger("inbound");
  const handler = config.pine.token
    ? pineHandler({ db, config, log, queue: queues.decisions })
    : undefined;
  let recovered = 0;
  return Promise.resolve({
    name: "inbound",
    routes: handler ? [{ method: "POST", path: "/alerts/pine", handler }] : [],
    async start() {
      const ids = await receivedAlertIds(db);
      for (const id of ids) queues.decisions.push(id);
      recovered = ids.length;
    },
    stop() {
      if (handler) log.info("Pine webhook counts at stop: {stats}", { stats: handler.stats });
      return Promise.resolve();
    },
    describe() {
      const pending = `${recovered} received alert(s) handed to execution`;
      if (!handler) {
        return `webhook disabled: PINE_WEBHOOK_TOKEN is unset (set it to 32+ characters to ` +
          `enable POST /alerts/pine); ${pending}`;
      }
      const list = config.pine.ipAllowlist?.length
        ? `allowlist of ${config.pine.ipAllowlist.length}`
        : "no IP allowlist";
      return `POST /alerts/pine enabled (${list}, trust proxy ${
        config.pine.trustProxy ? "on" : "off"
      }); ${pending}`;
    },
  });
}
