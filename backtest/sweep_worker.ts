/**
 * A sweep worker: gets the shared candles and series once, then one combination at a time
 * (pulled, so a fast worker takes more), and answers each with its metrics in and, with a
 * split, out of sample. Needs no permissions: everything arrives in messages.
 */
import { runCombination, type RunSettings, type SweepParams } from "./sweep.ts";
import type { CandleColumns, SeriesMap } from "./sweep_series.ts";

export type ToWorker =
  | { kind: "init"; columns: CandleColumns; series: SeriesMap; settings: RunSettings; cut: number }
  | { kind: "run"; index: number; params: SweepParams }
  | { kind: "stop" };

let init: Extract<ToWorker, { kind: "init" }> | undefined;

const scope = self as unknown as {
  onmessage: (e: MessageEvent<ToWorker>) => void;
  postMessage: (m: unknown) => void;
  close: () => void;
};

scope.onmessage = (e) => {
  const m = e.data;
  if (m.kind === "init") init = m;
  else if (m.kind === "stop") scope.close();
  else {
    try {
      const { columns: c, series, settings, cut } = init!;
      const inSample = runCombination(c, series, m.params, settings, 0, cut);
      const outOfSample = cut < c.n
        ? runCombination(c, series, m.params, settings, cut, c.n)
        : undefined;
      scope.postMessage({ kind: "result", index: m.index, inSample, outOfSample });
    } catch (error) {
      scope.postMessage({ kind: "error", index: m.index, message: String(error) });
    }
  }
};
