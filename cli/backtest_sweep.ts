/**
 * `backtest --sweep`: every combination of a parameter grid over one candle file, on worker
 * threads, ranked by a metric; with `--split`, ranked in-sample and shown out-of-sample too.
 */
import {
  columnCollector,
  combinations,
  type Grid,
  gridValues,
  parseGrid,
  type RankBy,
  rankValue,
  type RunSettings,
  runSweep,
  streamCandleCsv,
  type SweepMetrics,
} from "../backtest/mod.ts";
import type { StrategyParams } from "../strategy/mod.ts";
import { errorMessage, RuntimeError, UsageError } from "../core/errors.ts";
import { type Io, table } from "./common.ts";

export interface SweepFlags {
  sweep: string;
  rank?: string;
  split?: string;
  json: boolean;
}

const RANKS: RankBy[] = ["return", "sharpe", "profit_factor", "max_dd"];

/** The sweep flags, checked with the others before anything is opened; undefined without. */
export function sweepFlags(
  v: Record<string, string | boolean | undefined>,
): SweepFlags | undefined {
  if (v.sweep === undefined) {
    if (v.rank !== undefined || v.split !== undefined) {
      throw new UsageError("--rank and --split go with --sweep GRID");
    }
    return undefined;
  }
  if (!v.csv) throw new UsageError("--sweep reads candles from --csv FILE");
  if (v["equity-csv"] || v.trades) {
    throw new UsageError("--equity-csv and --trades are for a single backtest, not --sweep");
  }
  const flags = {
    sweep: String(v.sweep),
    rank: v.rank as string | undefined,
    split: v.split as string | undefined,
    json: Boolean(v.json),
  };
  checkSweepFlags(flags);
  return flags;
}

/** The grid of the sweep flags (checked by sweepFlags already). */
export const sweepGrid = (f: SweepFlags): Grid => parseGrid(f.sweep);

/** Checks the sweep flags before anything is read. */
export function checkSweepFlags(f: SweepFlags) {
  const grid = parseGrid(f.sweep);
  const rank = (f.rank ?? "return") as RankBy;
  if (!RANKS.includes(rank)) {
    throw new UsageError(`--rank must be one of ${RANKS.join(", ")}, got "${f.rank}"`);
  }
  const split = f.split === undefined ? 1 : Number(f.split);
  if (!(split > 0 && split <= 1)) {
    throw new UsageError(`--split must be a fraction above 0 and below 1, got "${f.split}"`);
  }
  return { grid, rank, split };
}

export async function sweepCommand(
  io: Io,
  base: StrategyParams,
  settings: RunSettings,
  path: string,
  f: SweepFlags,
): Promise<void> {
  const { grid, rank, split } = checkSweepFlags(f);

  const combos = combinations(base, grid);
  const cols = columnCollector();
  let csv;
  try {
    csv = await streamCandleCsv(path, cols.add);
  } catch (error) {
    throw new UsageError(`Cannot read --csv ${path}: ${errorMessage(error)}`);
  }
  const columns = cols.done();
  const cut = Math.floor(columns.n * split);
  if (columns.n < 2 || cut < 1 || (split < 1 && columns.n - cut < 1)) {
    throw new RuntimeError(
      `Too few usable candles in ${path} (${columns.n}, ${csv.badCount} bad row(s)) for a sweep`,
    );
  }
  const bar = progressBar(io);
  const results = await runSweep(columns, combos, {
    settings,
    cut,
    onProgress: bar.update,
  });
  bar.done();
  const order = results.map((r, i) => ({ r, i })).sort((a, b) =>
    rankValue(b.r.inSample, rank) - rankValue(a.r.inSample, rank) || a.i - b.i
  );
  if (f.json) {
    io.out(JSON.stringify({
      source: path,
      candles: columns.n,
      inSampleCandles: cut,
      outOfSampleCandles: columns.n - cut,
      combinations: combos.length,
      rank,
      badRows: { count: csv.badCount, first: csv.errors },
      results: order.map(({ r }, k) => ({
        rank: k + 1,
        params: gridValues(r.params, grid),
        inSample: r.inSample,
        outOfSample: r.outOfSample,
      })),
    }));
    return;
  }
  const cells = (m: SweepMetrics, prefix: string) => ({
    [`${prefix}return %`]: m.returnPct,
    [`${prefix}sharpe`]: m.sharpe,
    [`${prefix}pf`]: m.profitFactor ?? "-",
    [`${prefix}max dd %`]: m.maxDrawdownPct,
    [`${prefix}trades`]: m.trades,
  });
  io.out(
    `Sweep of ${combos.length} combinations over ${columns.n} candles of ${path}, ranked by ` +
      `${rank}${
        split < 1
          ? ` on the first ${cut} (in-sample); out-of-sample on the other ${columns.n - cut}`
          : ""
      }`,
  );
  io.out(table(order.map(({ r }, k) => ({
    rank: k + 1,
    ...gridValues(r.params, grid),
    ...cells(r.inSample, split < 1 ? "is " : ""),
    ...(r.outOfSample ? cells(r.outOfSample, "oos ") : {}),
  }))));
  if (csv.badCount > 0) {
    io.out(`\n${csv.badCount} bad row(s) skipped (see backtest without --sweep)`);
  }
}

/** `[#####.....] 45/125` on a terminal, redrawn in place at most 10 times a second. */
function progressBar(io: Io) {
  const enc = new TextEncoder();
  let last = 0;
  const draw = (text: string) => Deno.stderr.writeSync(enc.encode(text));
  return {
    update(done: number, total: number) {
      if (!io.isTerminal || (performance.now() - last < 100 && done < total)) return;
      last = performance.now();
      const filled = Math.round(done / total * 30);
      draw(`\r[${"#".repeat(filled)}${".".repeat(30 - filled)}] ${done}/${total} combinations`);
    },
    done() {
      if (io.isTerminal) draw("\n");
    },
  };
}
