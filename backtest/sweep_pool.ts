/**
 * Runs a sweep's combinations on worker threads (one per core, at most one per combination)
 * and collects their metrics in combination order. Workers inherit the process's permissions
 * and need none; `deno compile` must include backtest/sweep_worker.ts (deno.json's compile
 * task does).
 */
import { type RunSettings, seriesFor, type SweepMetrics, type SweepParams } from "./sweep.ts";
import type { CandleColumns } from "./sweep_series.ts";
import type { ToWorker } from "./sweep_worker.ts";

export interface SweepResult {
  params: SweepParams;
  inSample: SweepMetrics;
  outOfSample?: SweepMetrics;
}

export interface PoolOptions {
  settings: RunSettings;
  /** Candles [0, cut) are in-sample; [cut, n) out-of-sample (cut = n: no split). */
  cut: number;
  workers?: number;
  onProgress?: (done: number, total: number) => void;
}

export async function runSweep(
  columns: CandleColumns,
  combos: SweepParams[],
  o: PoolOptions,
): Promise<SweepResult[]> {
  const series = seriesFor(columns, combos);
  const count = Math.max(1, Math.min(o.workers ?? navigator.hardwareConcurrency, combos.length));
  const results: SweepResult[] = new Array(combos.length);
  let next = 0, done = 0;
  const url = new URL("./sweep_worker.ts", import.meta.url).href;
  const workers = Array.from({ length: count }, () => new Worker(url, { type: "module" }));
  try {
    await new Promise<void>((resolve, reject) => {
      const send = (w: Worker) => {
        if (next >= combos.length) return;
        const index = next++;
        w.postMessage({ kind: "run", index, params: combos[index] } satisfies ToWorker);
      };
      for (const w of workers) {
        w.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`A sweep worker failed: ${e.message}`));
        };
        w.onmessage = (e) => {
          const m = e.data;
          if (m.kind === "error") return reject(new Error(`Combination ${m.index}: ${m.message}`));
          results[m.index] = { params: combos[m.index], ...m };
          delete (results[m.index] as { kind?: string }).kind;
          delete (results[m.index] as { index?: number }).index;
          done++;
          o.onProgress?.(done, combos.length);
          if (done === combos.length) resolve();
          else send(w);
        };
        w.postMessage(
          { kind: "init", columns, series, settings: o.settings, cut: o.cut } satisfies ToWorker,
        );
        send(w);
      }
      if (combos.length === 0) resolve();
    });
  } finally {
    for (const w of workers) w.terminate();
  }
  return results;
}
