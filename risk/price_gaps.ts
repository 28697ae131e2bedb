/**
 * Symbols the Risk agent cannot price while it prices others: their positions are not watched
 * by the software stop and targets meanwhile (a stop resting on the exchange still guards
 * them). A price missing for `warnAfterMs` is told once (WARN, to the operator's chats), and
 * its return once (INFO). A pass that prices nothing at all is the loop alarm's to tell
 * (notify/loop_alarm.ts), not this. The state is kept in memory: it is about what to tell,
 * never about money, and a restart starts the count again.
 */
import type { Log } from "../core/log.ts";
import { redactText } from "../core/redact.ts";
import type { Db } from "../db/mod.ts";
import { enqueueNotification, NotificationKind } from "../notify/mod.ts";

/** A symbol without a price this long (while others are priced) is told. */
export const PRICE_GAP_WARN_MS = 60_000;

interface Gap {
  symbol: string;
  since: number;
  told: boolean;
  positions: number[];
  error: string;
}

export function priceGaps(
  o: { db: Db; log: Log; now?: () => number; warnAfterMs?: number },
) {
  const now = o.now ?? (() => Date.now());
  const warnAfterMs = o.warnAfterMs ?? PRICE_GAP_WARN_MS;
  const gaps = new Map<string, Gap>();
  const recovered: Gap[] = [];

  return {
    /** This pass found no price for the market `key` (its symbol and positions). */
    failed(key: string, symbol: string, positions: number[], error: string) {
      const gap = gaps.get(key) ?? { symbol, since: now(), told: false, positions, error };
      gaps.set(key, { ...gap, positions, error });
    },
    /** This pass priced `key`: a gap told earlier is told closed. */
    priced(key: string) {
      const gap = gaps.get(key);
      if (!gap) return;
      gaps.delete(key);
      if (gap.told) recovered.push(gap);
    },
    /**
     * Tells what is due after a pass over the markets `watched`; `total`: the pass priced
     * nothing (the loop alarm's). A market no longer watched (its positions closed) is dropped.
     */
    async flush(watched: ReadonlySet<string> | Map<string, unknown>, total: boolean) {
      for (const key of gaps.keys()) if (!watched.has(key)) gaps.delete(key);
      for (const gap of recovered.splice(0)) {
        await enqueueNotification(o.db, {
          severity: "INFO",
          kind: NotificationKind.priceRecovered,
          text: `Prices of ${gap.symbol} are back: its positions are watched again`,
          dedupeKey: `risk:price-gap:${gap.symbol}:${gap.since}:recovered`,
        });
      }
      if (total) return;
      for (const gap of gaps.values()) {
        const age = now() - gap.since;
        if (gap.told || age < warnAfterMs) continue;
        gap.told = true;
        const text = `No price for ${gap.symbol} for ${Math.round(age / 1000)} s while other ` +
          `symbols are priced: position(s) ${gap.positions.join(", ")} are not watched by the ` +
          `software stop and targets (a stop resting on the exchange still guards them). ` +
          `Last error: ${redactText(gap.error)}`;
        await enqueueNotification(o.db, {
          severity: "WARN",
          kind: NotificationKind.priceMissing,
          text,
          dedupeKey: `risk:price-gap:${gap.symbol}:${gap.since}`,
        });
        o.log.warn("Risk: {text}", { text });
      }
    },
  };
}
