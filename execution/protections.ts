/**
 * What may stop an account's new entries (migration 0018): a pause (the operator's, or one a
 * protection set), the daily loss limit, the drawdown lock, the cooldown after a stop-loss and
 * the cap on open positions. Protections block entries only: exits always pass. A protection
 * that trips pauses the account with its reason and one CRITICAL; the daily loss pause lifts
 * at the next 00:00 UTC by itself, the drawdown lock only by `resume`.
 */
import type { Config } from "../core/config.ts";
import { assert } from "../core/errors.ts";
import type { Db, Sql } from "../db/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";
import { type Account, accountTag } from "./accounts.ts";

export type PauseKind = "operator" | "daily_loss" | "drawdown";

export interface ActivePause {
  accountId: number;
  kind: PauseKind;
  reason: string;
  byWhom: string;
  until: Date | null;
  createdAt: Date;
}

/** The pauses in effect at `now`, of one account or of all. */
export async function activePauses(sql: Sql, now: Date, accountId?: number) {
  const rows = await sql.query<{
    account_id: string;
    kind: PauseKind;
    reason: string;
    by_whom: string;
    until: Date | null;
    created_at: Date;
  }>(
    `select account_id, kind, reason, by_whom, until, created_at from trading_pauses
      where lifted_at is null and (until is null or until > $1)
        and ($2::int8 is null or account_id = $2)
      order by account_id, created_at`,
    [now, accountId ?? null],
  );
  return rows.map((r): ActivePause => ({
    accountId: Number(r.account_id),
    kind: r.kind,
    reason: r.reason,
    byWhom: r.by_whom,
    until: r.until,
    createdAt: r.created_at,
  }));
}

/**
 * Pauses an account's entries and returns the pause's id; undefined when a pause of that kind
 * is already in effect. A pause
 * of the same kind that expired (its `until` passed) is lifted first, so a new one can start.
 */
export async function pauseAccount(
  sql: Sql,
  p: { accountId: number; kind: PauseKind; reason: string; byWhom: string; until?: Date },
  now: Date,
): Promise<number | undefined> {
  await sql.query(
    `update trading_pauses set lifted_at = $3, lifted_by = 'expired'
      where account_id = $1 and kind = $2 and lifted_at is null and until is not null
        and until <= $3`,
    [p.accountId, p.kind, now],
  );
  const rows = await sql.query(
    `insert into trading_pauses (account_id, kind, reason, by_whom, until)
     values ($1, $2, $3, $4, $5)
     on conflict (account_id, kind) where lifted_at is null do nothing returning id`,
    [p.accountId, p.kind, p.reason, p.byWhom, p.until ?? null],
  );
  return rows.length > 0 ? Number((rows[0] as { id: number }).id) : undefined;
}

/** Lifts every pause of an account (`resume`); returns the kinds lifted. */
export async function liftPauses(sql: Sql, accountId: number, byWhom: string, now: Date) {
  const rows = await sql.query<{ kind: PauseKind }>(
    `update trading_pauses set lifted_at = $2, lifted_by = $3
      where account_id = $1 and lifted_at is null and (until is null or until > $2)
      returning kind`,
    [accountId, now, byWhom],
  );
  // A lifted drawdown lock starts over from today's equity: the old peak would lock again at
  // the next entry, and the account could never get back above it without trading.
  // Every day's row of a quote takes that quote's latest reading: a later day's first reading
  // takes the peak of the days before it, and an old day's own peak would lock again.
  if (rows.some((r) => r.kind === "drawdown")) {
    await sql.query(
      `update equity_marks m set peak_equity = l.last_equity
         from (select distinct on (quote) quote, last_equity from equity_marks
                where account_id = $1 order by quote, day desc) l
        where m.account_id = $1 and m.quote = l.quote`,
      [accountId],
    );
  }
  // A lifted daily loss pause starts the day over from the latest reading: the day's first
  // reading would pause the account again at its next entry, for the same loss.
  if (rows.some((r) => r.kind === "daily_loss")) {
    await sql.query(
      `insert into equity_marks as m (account_id, day, quote, first_equity, last_equity,
                                      peak_equity)
       select distinct on (quote) account_id, $2::date, quote, last_equity, last_equity,
              peak_equity
         from equity_marks where account_id = $1 order by quote, day desc
       on conflict (account_id, day, quote) do update set first_equity = m.last_equity,
         updated_at = now()`,
      [accountId, now.toISOString().slice(0, 10)],
    );
  }
  return rows.map((r) => r.kind);
}

/** Why entries wait, in words: the pause's kind, reason and end. */
export function pauseReason(p: ActivePause): string {
  const until = p.until ? ` until ${p.until.toISOString()}` : " until resume";
  return `entries are paused (${p.kind}: ${p.reason})${until}`;
}

const nextUtcMidnight = (now: Date) =>
  new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));

const pct = (n: number) => `${Math.round(n * 100) / 100} %`;

type Limits = Pick<
  Config["risk"],
  "maxDailyLossPct" | "maxDrawdownPct" | "cooldownAfterStopMin" | "maxOpenPositions"
>;

/** The figures a decision on one entry is made from. */
export interface EntryFacts {
  pauses: ActivePause[];
  firstEquity?: number;
  peakEquity?: number;
  equity: number;
  /** Symbols the account holds or is buying (active buy orders). */
  openPositions: number;
  holdsSymbol: boolean;
  /** When this symbol's last stop-loss of the account was handed over or settled, if any. */
  lastStopAt?: Date;
}

/**
 * The pure rule: why an entry is refused (and which pause it starts), or undefined when it may
 * go. Figures come from `entryFacts`; `now` decides the cooldown.
 */
export function entryVerdict(
  f: EntryFacts,
  limits: Limits,
  now: Date,
): { reason: string; pause?: { kind: PauseKind; until?: Date } } | undefined {
  if (f.pauses[0]) return { reason: pauseReason(f.pauses[0]) };
  if (limits.maxDailyLossPct && f.firstEquity && f.firstEquity > 0) {
    const loss = (f.firstEquity - f.equity) / f.firstEquity * 100;
    if (loss >= limits.maxDailyLossPct) {
      return {
        reason: `the daily loss limit is reached: equity ${f.equity.toFixed(2)} is ${
          pct(loss)
        } below the day's first ${
          f.firstEquity.toFixed(2)
        } (MAX_DAILY_LOSS_PCT=${limits.maxDailyLossPct}); entries resume at 00:00 UTC`,
        pause: { kind: "daily_loss", until: nextUtcMidnight(now) },
      };
    }
  }
  if (limits.maxDrawdownPct && f.peakEquity && f.peakEquity > 0) {
    const dd = (f.peakEquity - f.equity) / f.peakEquity * 100;
    if (dd >= limits.maxDrawdownPct) {
      return {
        reason: `the drawdown lock is reached: equity ${f.equity.toFixed(2)} is ${
          pct(dd)
        } below its peak ${
          f.peakEquity.toFixed(2)
        } (MAX_DRAWDOWN_PCT=${limits.maxDrawdownPct}); entries resume after resume`,
        pause: { kind: "drawdown" },
      };
    }
  }
  const cooldownMs = (limits.cooldownAfterStopMin ?? 0) * 60_000;
  if (cooldownMs > 0 && f.lastStopAt && now.getTime() - f.lastStopAt.getTime() < cooldownMs) {
    const until = new Date(f.lastStopAt.getTime() + cooldownMs);
    return {
      reason: `the symbol is cooling down after its stop-loss until ${until.toISOString()} ` +
        `(COOLDOWN_AFTER_STOP_MIN=${limits.cooldownAfterStopMin})`,
    };
  }
  if (limits.maxOpenPositions && !f.holdsSymbol && f.openPositions >= limits.maxOpenPositions) {
    return {
      reason: `${f.openPositions} positions are open, the most allowed ` +
        `(MAX_OPEN_POSITIONS=${limits.maxOpenPositions})`,
    };
  }
  return undefined;
}

/** Whether any protection needs figures beyond the pauses. */
export function protectionsOn(limits: Limits): boolean {
  return Boolean(
    limits.maxDailyLossPct || limits.maxDrawdownPct || limits.cooldownAfterStopMin ||
      limits.maxOpenPositions,
  );
}

/**
 * Records the account's equity of the day (first reading, peak) in the symbol's quote asset and
 * reads what the verdict needs; only what a configured protection uses is read. A reading that
 * is not `settled` (an order's fill may be in the balances and not yet in the database) is not
 * recorded: the entry is judged by the latest reading recorded in that quote (by the reading
 * itself when there is none).
 */
export async function entryFacts(
  db: Db,
  account: Pick<Account, "id">,
  symbol: string,
  reading: { equity: number; settled: boolean },
  now: Date,
  limits: Limits,
  pauses: ActivePause[],
): Promise<EntryFacts> {
  const facts: EntryFacts = {
    pauses,
    equity: reading.equity,
    openPositions: 0,
    holdsSymbol: false,
  };
  if (limits.maxDailyLossPct || limits.maxDrawdownPct) {
    const m = await markEquity(db, account.id, reading.equity, symbol.split("/")[1] ?? "", now, {
      record: reading.settled,
    });
    facts.firstEquity = m.first;
    facts.peakEquity = m.peak;
    // Not settled: judged by the latest reading recorded (every recorded one was settled).
    if (!reading.settled && m.last !== undefined) facts.equity = m.last;
  }
  if (limits.cooldownAfterStopMin || limits.maxOpenPositions) {
    const [pos] = await db.query<{ open: number; holds: boolean; last_stop: Date | null }>(
      `select (select count(distinct symbol)::int from (
                 select symbol from positions where account_id = $1 and status = 'OPEN' and qty > 0
                 union all
                 select symbol from orders where account_id = $1 and side = 'buy'
                    and status in ('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED')) s) as open,
              exists (select 1 from positions where account_id = $1 and status = 'OPEN'
                        and qty > 0 and symbol = $2) as holds,
              -- A stop that filled on the exchange counts from its fill (the exchange's trade
              -- time; not after it was recorded), not from when it was recorded: one that filled
              -- while serve was down cools the symbol down from then. A trade without a time is
              -- stored at the epoch, and is no time.
              (select max(case when r.status <> 'DONE' then r.created_at
                               else coalesce(least(r.updated_at,
                                      (select max(e.executed_at) from executions e
                                        where e.order_id = r.order_id
                                          and e.executed_at > timestamptz '2001-01-01')),
                                    r.updated_at) end)
                 from risk_actions r join positions p on p.id = r.position_id
                where r.account_id = $1 and p.symbol = $2 and r.kind = 'stop_loss'
                  -- A protective stop resting on the exchange (no alert) is no stop-loss yet;
                  -- it counts once it filled (DONE).
                  and (r.status = 'DONE' or (r.status = 'PLANNED' and r.alert_id is not null)))
                as last_stop`,
      [account.id, symbol],
    );
    facts.openPositions = pos.open;
    facts.holdsSymbol = pos.holds;
    facts.lastStopAt = pos.last_stop ?? undefined;
  }
  return facts;
}

/**
 * The day's first equity and the peak so far in `quote`, after recording this reading; readings
 * in another quote asset are kept apart (an equity in BTC is no loss of one in USDT).
 */
export async function markEquity(
  db: Db,
  accountId: number,
  equity: number,
  quote: string,
  now: Date,
  options: { record?: boolean } = {},
) {
  const day = now.toISOString().slice(0, 10);
  assert(Number.isFinite(equity), `an equity reading is a number (${equity})`);
  if (options.record === false) {
    // The day's first reading (else the last before it) and the latest reading recorded, to
    // judge by in place of one that may be off.
    const [seen] = await db.query<{ first: string; peak: string; last: string | null }>(
      `select coalesce((select first_equity from equity_marks
                         where account_id = $1 and day = $2 and quote = $4),
                       (select last_equity from equity_marks
                         where account_id = $1 and day < $2 and quote = $4
                         order by day desc limit 1), $3)::text as first,
              coalesce((select max(peak_equity) from equity_marks
                         where account_id = $1 and quote = $4), $3)::text as peak,
              (select last_equity from equity_marks
                where account_id = $1 and quote = $4 order by day desc limit 1)::text as last`,
      [accountId, day, equity, quote],
    );
    return {
      first: Number(seen.first),
      peak: Number(seen.peak),
      last: seen.last === null ? undefined : Number(seen.last),
    };
  }
  const [mark] = await db.query<{ first: string; peak: string }>(
    `insert into equity_marks as m
       (account_id, day, quote, first_equity, last_equity, peak_equity)
     values ($1, $2, $4, $3, $3,
             greatest($3, coalesce((select max(peak_equity) from equity_marks
                                     where account_id = $1 and quote = $4 and day < $2), $3)))
     on conflict (account_id, day, quote) do update set last_equity = $3,
       peak_equity = greatest(m.peak_equity, $3), updated_at = now()
     returning first_equity::text as first, peak_equity::text as peak`,
    [accountId, day, equity, quote],
  );
  return { first: Number(mark.first), peak: Number(mark.peak), last: equity };
}

/** Starts the pause a tripped protection asks for, with one CRITICAL when it is new. */
export async function tripProtection(
  db: Db,
  account: Pick<Account, "id" | "name">,
  verdict: { reason: string; pause?: { kind: PauseKind; until?: Date } },
  now: Date,
): Promise<void> {
  if (!verdict.pause) return;
  const pause = verdict.pause;
  await db.transaction(async (tx) => {
    const pauseId = await pauseAccount(tx, {
      accountId: account.id,
      kind: pause.kind,
      reason: verdict.reason,
      byWhom: "protection",
      until: pause.until,
    }, now);
    if (pauseId === undefined) return;
    await enqueueNotification(tx, {
      severity: "CRITICAL",
      kind: NotificationKind.protectionTripped,
      text: `${accountTag(account)}New entries of account ${account.name} are paused: ` +
        `${verdict.reason}. Exits and stops keep working`,
      dedupeKey: `protection:${account.id}:${pause.kind}:${pauseId}`,
      accountId: account.id,
    });
  });
}
