// Longer than ~300 lines: the shared intake: validation, mapping, dedupe and storing, one path for every door.
/**
 * The one intake of trading signals, shared by the webhook, the CSV import and the Strategy
 * agent: validate → strategy mapping → dedupe → store → hand over. A decision is stored as
 * RECEIVED in the same transaction as its dedupe key, so an acknowledged signal is never lost
 * and never stored twice; the execution queue is only a wake-up after the commit.
 */
import type { WorkQueue } from "../runtime/mod.ts";
import type { TradingDecision } from "../trading/decision.ts";
import { limits } from "../core/limits.ts";
import { sha256Hex } from "../core/hash.ts";
import { redactText } from "../core/redact.ts";
import { parseAlertSymbol, splitMarketId } from "../trading/symbol.ts";
import type { Db, Sql } from "../db/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { parsePineAlert } from "./pine_schema.ts";
import { alertToDecision, applyStrategy, canonicalJson, type DecisionInput } from "./map.ts";
import { readStrategyRow, type StrategyRow } from "./strategies.ts";
import { recordInbound } from "./record_batch.ts";
import { holdsLoneSurrogate, nestedDeeperThan } from "./request.ts";

export type Source = "pine" | "csv" | "tradingview" | "strategy" | "pull";

export type IntakeResult =
  /** Stored as RECEIVED and handed to execution. */
  | { outcome: "accepted"; alertId?: number; decision: TradingDecision }
  /** The same key with the same payload was accepted before: alertId is the original. */
  | { outcome: "duplicate"; alertId?: number }
  /** The same key was accepted before with a different payload. */
  | { outcome: "conflict"; alertId?: number; error: string }
  /** Invalid, or refused by its strategy: stored with the reason (status INVALID/REJECTED). */
  | { outcome: "rejected"; alertId?: number; error: string };

export interface SignalInput {
  source: Source;
  /** What arrived, the secret already removed; masked again before it is stored. */
  rawBody: string;
  remoteAddr?: string;
  /** Line of the CSV file the signal came from. */
  lineNo?: number;
  /** The decoded body to keep beside the raw text (jsonb), secret removed. */
  payload?: unknown;
  /** When it arrived (the HTTP arrival for the webhook); the database's now() if absent. */
  receivedAt?: Date;
  /** The database refuses to commit the write after this time (migration 0009). */
  acceptBy?: Date;
  /**
   * Why an entry (a buy) without its own `ts` is refused: its receipt is not its time, and it
   * may be too old to trade (a line of the pulled file read after a gap: pull.ts). REJECTED
   * with this reason, after its strategy accepted it; exits are kept, as late exits are.
   */
  undated?: string;
}

/** A write refused by the database because it came after its `acceptBy` (nothing stored). */
export const isLateWriteError = (e: unknown): boolean =>
  typeof e === "object" && e !== null && (e as { code?: unknown }).code === "PSL01";

export interface IntakeOptions {
  /** Woken with the alert id after the commit (the Execution agent's queue). */
  queue?: WorkQueue<number>;
  /** Validates and checks for duplicates without writing anything. */
  dryRun?: boolean;
  now?: () => Date;
}

/** The payload hash: the decision as the source gave it, without its key. */
export function payloadHash(decision: DecisionInput): string {
  return sha256Hex(canonicalJson({ ...decision, idempotencyKey: undefined }));
}

/**
 * Records a decision from any source. The idempotency key, when absent, is derived from the
 * payload hash, so an identical re-sent signal is a duplicate.
 */
export async function recordDecision(
  db: Db,
  input: SignalInput & { decision: DecisionInput },
  options: IntakeOptions = {},
): Promise<IntakeResult> {
  const hash = payloadHash(input.decision);
  const key = input.decision.idempotencyKey ?? `h:${hash.slice(0, 32)}`;
  const decision: TradingDecision = { ...input.decision, idempotencyKey: key };
  const reserved = key.startsWith("risk:")
    ? "risk:"
    : key.startsWith("strategy:") && input.source !== "strategy"
    ? "strategy:"
    : undefined;
  if (reserved) {
    // The risk agent's exits are keyed "risk:…" and the strategy agent's signals
    // "strategy:…" in the same table: another door must not be able to take such a key in
    // advance and so block a stop-loss or the agent's signal.
    const error = `Idempotency keys starting with "${reserved}" are reserved; choose another key`;
    if (options.dryRun) return { outcome: "rejected", error };
    const alertId = await db.transaction((tx) =>
      storeRefused(tx, input, "REJECTED", error, options, { key, hash, decision })
    );
    return { outcome: "rejected", alertId, error };
  }
  if (options.dryRun) return await dryRun(db, decision, hash);

  // The strategy row may come from a copy (one query less per alert): the write below is done
  // only if the row is still that version (migration 0005), and a refusal is never based on a
  // copy. So a disabled or changed strategy never accepts an alert once its change committed.
  const name = decision.strategy;
  let strategy = strategyCache(db).get(name);
  let fresh = false;
  if (!strategy) [strategy, fresh] = [await readStrategy(db, name), true];
  let result: IntakeResult | undefined;
  for (let attempt = 0; !result; attempt++) {
    const mapped = applyStrategy(decision, strategy);
    if (!mapped.ok && !fresh) {
      [strategy, fresh] = [await readStrategy(db, name), true];
      continue;
    }
    if (!mapped.ok) {
      const alertId = await db.transaction((tx) =>
        storeRefused(tx, input, "REJECTED", mapped.error, options, { key, hash, decision })
      );
      result = { outcome: "rejected", alertId, error: mapped.error };
      break;
    }
    if (input.undated && mapped.decision.action === "buy" && mapped.decision.ts === undefined) {
      const error = input.undated;
      const alertId = await db.transaction((tx) =>
        storeRefused(tx, input, "REJECTED", error, options, { key, hash, decision })
      );
      result = { outcome: "rejected", alertId, error };
      break;
    }
    result = await storeDecision(db, input, mapped.decision, hash, strategy!, options);
    if (result) break;
    if (attempt + 1 >= limits.intakeStaleRetries) {
      throw new Error(
        `Strategy "${name}" changed during ${limits.intakeStaleRetries} attempts to store a ` +
          `signal; send it again`,
      );
    }
    [strategy, fresh] = [await readStrategy(db, name), true];
  }
  if (result.outcome === "accepted" && result.alertId !== undefined) {
    options.queue?.push(result.alertId);
  }
  return result;
}

const strategyCaches = new WeakMap<Db, Map<string, StrategyRow>>();

function strategyCache(db: Db): Map<string, StrategyRow> {
  let cache = strategyCaches.get(db);
  if (!cache) strategyCaches.set(db, cache = new Map());
  return cache;
}

async function readStrategy(db: Db, name: string): Promise<StrategyRow | undefined> {
  const row = await readStrategyRow(db, name);
  const cache = strategyCache(db);
  if (!row) cache.delete(name);
  else {
    if (cache.size >= limits.intakeStrategyCacheMax && !cache.has(name)) cache.clear();
    cache.set(name, row);
  }
  return row;
}

/**
 * One statement, so one commit (one WAL flush) per alert, or per batch of alerts arriving
 * together (record_batch.ts): record_inbound_decision (migrations 0003, 0005, 0009) checks the
 * strategy row is still the version the decision was mapped with, stores the alert, claims its
 * key and settles the status atomically. Undefined when the strategy changed in between
 * (nothing written).
 */
async function storeDecision(
  db: Db,
  input: SignalInput & { decision: DecisionInput },
  decision: TradingDecision,
  hash: string,
  strategy: StrategyRow,
  options: IntakeOptions,
): Promise<IntakeResult | undefined> {
  const row = await recordInbound(db, {
    source: input.source,
    key: decision.idempotencyKey,
    hash,
    rawBody: storableText(input.rawBody),
    payloadJson: jsonOrNull(input.payload ?? input.decision),
    remoteAddr: input.remoteAddr ?? null,
    decisionJson: JSON.stringify(decision),
    lineNo: input.lineNo ?? null,
    dedupeDay: (options.now?.() ?? new Date()).toISOString().slice(0, 10),
    strategy: strategy.name,
    strategyVersion: strategy.version,
    receivedAt: input.receivedAt ?? null,
    acceptBy: input.acceptBy ?? null,
  });
  if (row.status === "STALE") return undefined;
  if (row.status === "RECEIVED") return { outcome: "accepted", alertId: row.id, decision };
  if (row.status === "DUPLICATE") return { outcome: "duplicate", alertId: row.first_id };
  return { outcome: "conflict", alertId: row.id, error: row.error ?? "" };
}

/** Records a signal that failed validation: status INVALID, with its error and a WARN. */
export async function recordInvalid(
  db: Db,
  input: SignalInput & { error: string },
  options: IntakeOptions = {},
): Promise<IntakeResult> {
  if (options.dryRun) return { outcome: "rejected", error: input.error };
  const alertId = await db.transaction((tx) =>
    storeRefused(tx, input, "INVALID", input.error, options)
  );
  return { outcome: "rejected", alertId, error: input.error };
}

/**
 * A decoded Pine alert or CSV row through the whole path: schema, symbol, strategy, dedupe.
 * `symbols` resolves the symbol (see symbolResolver).
 */
export async function intakeAlert(
  db: Db,
  input: SignalInput & { body: unknown },
  options: IntakeOptions & { symbols: SymbolResolver },
): Promise<IntakeResult> {
  // What PostgreSQL cannot store in jsonb is refused here with a clear answer, for every door
  // (the webhook, the pulled file, the CSV import): a value nested too deep (stack depth), a NUL
  // character, an unpaired UTF-16 surrogate. Nothing of the body is stored but its raw text.
  const unstorable = (error: string) =>
    recordInvalid(db, { ...input, payload: undefined, error }, options);
  if (nestedDeeperThan(input.body, limits.webhookJsonDepthMax)) {
    return await unstorable(
      `Body nests deeper than ${limits.webhookJsonDepthMax} levels; an alert message is a flat ` +
        "object",
    );
  }
  const json = JSON.stringify(input.body) ?? "";
  if (json.includes("\\u0000")) {
    return await unstorable(
      "The alert contains a NUL character (\\u0000); remove it from the message",
    );
  }
  // JSON.stringify writes an unpaired surrogate, and only that, as a \uD8xx-\uDFxx escape.
  if (/\\u[dD][89a-fA-F]/.test(json) && holdsLoneSurrogate(input.body)) {
    return await unstorable(
      "Body holds an unpaired UTF-16 surrogate escape (such as \\ud800), which is not text; " +
        "remove it from the message",
    );
  }
  const parsed = parsePineAlert(input.body);
  if (!parsed.ok) return await recordInvalid(db, { ...input, error: parsed.error }, options);
  const future = futureTs(parsed.alert.ts, input.receivedAt ?? options.now?.() ?? new Date());
  if (future) return await recordInvalid(db, { ...input, error: future }, options);
  const resolved = await options.symbols(parsed.alert.symbol);
  if (!resolved.ok) return await recordInvalid(db, { ...input, error: resolved.error }, options);
  const decision = alertToDecision(parsed.alert, resolved.symbol);
  return await recordDecision(db, { ...input, decision }, options);
}

/**
 * A `ts` far in the future would pass SIGNAL_MAX_AGE_S for ever (an alert dated 2099): more
 * than limits.signalFutureSkewMs ahead of the arrival is refused.
 */
function futureTs(ts: string | undefined, arrival: Date): string | undefined {
  if (ts === undefined) return undefined;
  const aheadMs = Date.parse(ts) - arrival.getTime();
  if (!(aheadMs > limits.signalFutureSkewMs)) return undefined;
  return `Invalid alert: ts: ${ts} is ${Math.round(aheadMs / 1000)} s in the future (at most ` +
    `${limits.signalFutureSkewMs / 1000} s allowed); send the alert's own time, e.g. {{timenow}}`;
}

export type SymbolResolver = (
  raw: string,
) => Promise<{ ok: true; symbol: string } | { ok: false; error: string }>;

/**
 * Resolves alert symbols to unified ones through `exchange_instruments`. When the exchange's
 * markets are loaded, a symbol must be one of them (exactly one market); before they are
 * loaded, a market id is split by its known quote asset. Found mappings are cached for
 * `cacheMs`, since markets change rarely and the webhook must answer fast.
 */
export function symbolResolver(db: Db, exchangeId: string, cacheMs = 60_000): SymbolResolver {
  const cache = new Map<string, { symbol: string; at: number }>();
  return async (raw) => {
    const parsed = parseAlertSymbol(raw, exchangeId);
    if (!parsed.ok) return parsed;
    const wanted = parsed.kind === "unified" ? parsed.symbol : parsed.marketId;
    const hit = cache.get(wanted);
    if (hit && Date.now() - hit.at < cacheMs) return { ok: true, symbol: hit.symbol };
    const [row] = await db.query<{ symbol: string | null; loaded: boolean }>(
      `select (select i.symbol from exchange_instruments ei
                 join instruments i on i.id = ei.instrument_id
                where ei.exchange_id = $1 and ei.active and (ei.market_id = $2 or i.symbol = $2)
                order by (ei.market_id = $2) desc limit 1) as symbol,
              exists (select 1 from exchange_instruments where exchange_id = $1) as loaded`,
      [exchangeId, wanted],
    );
    let symbol = row?.symbol ?? undefined;
    if (!symbol && !row?.loaded) {
      symbol = parsed.kind === "unified" ? parsed.symbol : splitMarketId(parsed.marketId);
    }
    if (!symbol) {
      return {
        ok: false,
        error: `Symbol "${raw}" is unknown on ${exchangeId}; use a market listed by the ` +
          `exchange, e.g. BTC/USDT`,
      };
    }
    cache.set(wanted, { symbol, at: Date.now() });
    return { ok: true, symbol };
  };
}

/** Ids of alerts stored as RECEIVED and not yet taken by execution (e.g. after a crash). */
export async function receivedAlertIds(db: Db, limit = 10_000): Promise<number[]> {
  const rows = await db.query<{ id: number }>(
    "select id from inbound_alerts where status = 'RECEIVED' order by id limit $1",
    [limit],
  );
  return rows.map((r) => r.id);
}

async function dryRun(db: Db, decision: TradingDecision, hash: string): Promise<IntakeResult> {
  const strategy = await readStrategyRow(db, decision.strategy);
  const mapped = applyStrategy(decision, strategy);
  if (!mapped.ok) return { outcome: "rejected", error: mapped.error };
  const [first] = await db.query<{ payload_hash: string; alert_id: number }>(
    "select payload_hash, alert_id from inbound_dedupe_keys where idempotency_key = $1",
    [decision.idempotencyKey],
  );
  if (!first) return { outcome: "accepted", decision: mapped.decision };
  if (first.payload_hash === hash) return { outcome: "duplicate", alertId: first.alert_id };
  return {
    outcome: "conflict",
    alertId: first.alert_id,
    error: `Idempotency key "${decision.idempotencyKey}" was already used by alert ` +
      `${first.alert_id} with a different payload`,
  };
}

async function storeRefused(
  tx: Sql,
  input: SignalInput,
  status: "INVALID" | "REJECTED",
  error: string,
  options: IntakeOptions,
  extra: { key?: string; hash?: string; decision?: TradingDecision } = {},
): Promise<number> {
  const [row] = await tx.query<{ id: number }>(
    `insert into inbound_alerts (source, idempotency_key, payload_hash, raw_body, payload,
       remote_addr, status, error, decision, line_no, processed_at, received_at, accept_by)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), coalesce($11, now()), $12)
     returning id`,
    [
      input.source,
      extra.key ?? null,
      extra.hash ?? null,
      storableText(input.rawBody),
      jsonOrNull(input.payload),
      input.remoteAddr ?? null,
      status,
      storableText(error),
      extra.decision ? JSON.stringify(extra.decision) : null,
      input.lineNo ?? null,
      input.receivedAt?.toISOString() ?? null,
      input.acceptBy?.toISOString() ?? null,
    ],
  );
  await warn(tx, input.source, row.id, error, options);
  return row.id;
}

/** One WARN per distinct error and day, so a misconfigured alert does not flood the chat. */
async function warn(tx: Sql, source: Source, alertId: number, error: string, o: IntakeOptions) {
  const day = (o.now?.() ?? new Date()).toISOString().slice(0, 10);
  await enqueueNotification(tx, {
    severity: "WARN",
    kind: NotificationKind.inboundRefused,
    text: redactText(`Inbound ${source} alert ${alertId} refused: ${error}`),
    dedupeKey: `inbound-refused:${day}:${sha256Hex(error).slice(0, 24)}`,
  });
}

/**
 * Text as it may be stored: secrets masked, and NUL characters (which PostgreSQL text and jsonb
 * refuse) replaced, so odd input is stored with its error instead of failing the request.
 */
function storableText(text: string): string {
  return redactText(text).replaceAll("\u0000", "\uFFFD");
}

/** The JSON text of a payload for a jsonb column: secrets masked in any field, NULs replaced. */
function jsonOrNull(value: unknown): string | null {
  if (value === undefined) return null;
  const json = JSON.stringify(value);
  const text = redactText(json).replaceAll("\\u0000", "\\ufffd");
  // Unchanged, it is JSON.stringify's own output.
  if (text === json) return text;
  try {
    JSON.parse(text);
    return text;
  } catch {
    // Masking cut through JSON syntax: keep nothing rather than something unparseable.
    return null;
  }
}
