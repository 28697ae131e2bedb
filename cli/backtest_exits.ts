/**
 * The exit flags of `backtest`: the trailing stop and the take-profit ladder of the live rules
 * (trading/trail.ts, trading/ladder.ts), checked as the strategies command checks them.
 */
import type { ExitRules } from "../backtest/mod.ts";
import type { StrategyRow } from "../signals/mod.ts";
import { errorMessage, UsageError } from "../core/errors.ts";
import { formatLadder, parseLadder } from "../trading/ladder.ts";
import { DEFAULT_TRAIL_STEP_PCT } from "../trading/trail.ts";
import { numberFlag } from "./common.ts";

export const EXIT_FLAGS = {
  "trail-pct": { type: "string" },
  "trail-activation-pct": { type: "string" },
  "trail-step-pct": { type: "string" },
  "tp-ladder": { type: "string" },
  "min-qty": { type: "string" },
  "min-notional": { type: "string" },
} as const;

export const EXIT_HELP =
  `Exits (the live rules; default: the --strategy row's trail and ladder, else
the fixed stop and one target; the step from TRAIL_STEP_PCT):
  --trail-pct N       trailing stop: the stop follows the highest price since entry this far
                      (%, above 0, below 100) below it, only ever up
  --trail-activation-pct N  trail once the high is this far (%) above the entry [0]
  --trail-step-pct N  move the stop only by at least this much (%) of itself [${DEFAULT_TRAIL_STEP_PCT}]
  --tp-ladder PCT:SHARE,…  take-profit slices instead of the single target, e.g. "4:50,8:50";
                      after the first slice fills, the stop moves to break even
  --min-qty N, --min-notional N  the market's minimums a slice must meet (default none; a
                      slice below them joins the next, as live)
  Within one candle: the stop first (against the low), then the slices or the target (against
  the high), then the high moves the trail, effective from the next candle.`;

type Flags = Partial<Record<keyof typeof EXIT_FLAGS, string>>;

const number = numberFlag;

/**
 * The exit rules of the flags, or undefined without any. `swept`: the names a sweep's grid
 * varies; with trail_pct there, the activation and the step may come without --trail-pct.
 */
export function exitFlags(v: Flags, swept: readonly string[] = []): ExitRules | undefined {
  const trailPct = number(
    "trail-pct",
    v["trail-pct"],
    (n) => n > 0 && n < 100,
    "above 0 and below 100",
  );
  const trailed = trailPct !== undefined || swept.includes("trail_pct");
  for (const flag of ["trail-activation-pct", "trail-step-pct"] as const) {
    if (v[flag] !== undefined && !trailed) {
      throw new UsageError(`--${flag} needs --trail-pct N in the same command`);
    }
  }
  if (swept.includes("trail_activation_pct") && !trailed) {
    throw new UsageError(
      "--sweep trail_activation_pct needs trail_pct in the grid or --trail-pct N",
    );
  }
  let ladder;
  if (v["tp-ladder"] !== undefined) {
    try {
      ladder = parseLadder(v["tp-ladder"]);
    } catch (error) {
      throw new UsageError(`--tp-ladder: ${errorMessage(error)}`);
    }
  }
  for (const flag of ["min-qty", "min-notional"] as const) {
    if (v[flag] !== undefined && !ladder) {
      throw new UsageError(`--${flag} goes with --tp-ladder (the slices it checks)`);
    }
  }
  const rules: ExitRules = {
    trailPct,
    trailActivationPct: number(
      "trail-activation-pct",
      v["trail-activation-pct"],
      (n) => n >= 0,
      "from 0 up",
    ),
    trailStepPct: number(
      "trail-step-pct",
      v["trail-step-pct"],
      (n) => n >= 0 && n <= 50,
      "from 0 to 50",
    ),
    ladder,
    minQty: number("min-qty", v["min-qty"], (n) => n > 0, "above 0"),
    minNotional: number("min-notional", v["min-notional"], (n) => n > 0, "above 0"),
  };
  return Object.values(rules).some((x) => x !== undefined) ? rules : undefined;
}

/** The rules as the summary names them: "trail 2 % from +1 %, step 0.5 %; ladder 4:50,8:50". */
export function exitRulesText(e: ExitRules): string {
  const parts: string[] = [];
  if (e.trailPct !== undefined) {
    parts.push(
      `trail ${e.trailPct} % from +${e.trailActivationPct ?? 0} %, step ${
        e.trailStepPct ?? DEFAULT_TRAIL_STEP_PCT
      } %`,
    );
  }
  if (e.ladder) parts.push(`ladder ${formatLadder(e.ladder)}, then break even`);
  return parts.join("; ");
}

/** The exit rules in --json, with the ladder as the flag writes it. */
export function exitsJson(e: ExitRules) {
  return { ...e, ladder: e.ladder ? formatLadder(e.ladder) : undefined };
}

/**
 * The flags over a stored strategy's trail and ladder, field by field (a flag wins), and the
 * step from TRAIL_STEP_PCT unless --trail-step-pct; undefined when neither trails nor ladders.
 */
export function withStoredExits(
  flags: ExitRules | undefined,
  row: Pick<StrategyRow, "trail_pct" | "trail_activation_pct" | "tp_ladder"> | undefined,
  envStepPct: number | undefined,
): ExitRules | undefined {
  const storedTrail = row?.trail_pct == null ? undefined : Number(row.trail_pct);
  const trailPct = flags?.trailPct ?? storedTrail;
  const ladder = flags?.ladder ?? row?.tp_ladder ?? undefined;
  if (trailPct === undefined && !ladder) return flags;
  const storedActivation = storedTrail === undefined
    ? undefined
    : Number(row!.trail_activation_pct);
  return {
    ...flags,
    trailPct,
    trailActivationPct: flags?.trailActivationPct ?? storedActivation,
    trailStepPct: flags?.trailStepPct ?? envStepPct,
    ladder,
  };
}
