/**
 * Sweep throughput: `main.ts backtest --csv FILE --sweep GRID --json` in a fresh process over
 * 1,051,200 one-minute candles (ISO-8601), 100 combinations (5 × 5 × 4), 3 runs; the figure is
 * the whole process (start-up, parse, series, workers). Target (issue 14): ≤ 10 s on 2 cores.
 * Also one `--split 0.7` run. Run: deno run -A bench/sweep.ts [--candles N]
 */
import { parseArgs } from "node:util";
import { candleCsvLine, generateCandles } from "../backtest/sample.ts";

const { values } = parseArgs({ args: Deno.args, options: { candles: { type: "string" } } });
const N = Number(values.candles ?? 1_051_200);
const GRID = "ema_fast=8..16:2,ema_slow=20..40:5,stop_pct=1..2.5:0.5";
const dir = await Deno.makeTempDir({ prefix: "pgsl-sweep-" });
const path = `${dir}/candles.csv`;
const main = new URL("../main.ts", import.meta.url).pathname;
try {
  {
    using file = await Deno.open(path, { write: true, create: true, truncate: true });
    const enc = new TextEncoder();
    let buf = ["ts,open,high,low,close,volume"];
    generateCandles({ count: N, seed: 1 }, (c) => {
      buf.push(candleCsvLine(c, "iso"));
      if (buf.length === 50_000) {
        file.writeSync(enc.encode(buf.join("\n") + "\n"));
        buf = [];
      }
    });
    file.writeSync(enc.encode(buf.join("\n") + "\n"));
  }
  const once = async (extra: string[]) => {
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "backtest", "--csv", path, "--sweep", GRID, "--json", ...extra],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const ms = performance.now() - t0;
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    if (r.combinations !== 100 || r.results.length !== 100) throw new Error("not 100 results");
    return { ms, best: r.results[0] };
  };
  const runs = [await once([]), await once([]), await once([])];
  const split = await once(["--split", "0.7"]);
  const ms = runs.map((r) => Math.round(r.ms));
  const median = [...ms].sort((a, b) => a - b)[1];
  console.log(
    `Sweep of 100 combinations over ${
      N.toLocaleString("en")
    } candles, ${navigator.hardwareConcurrency} cores`,
  );
  console.log(
    `whole process ms: ${ms.join(" / ")} (median ${median}); with --split 0.7: ${
      Math.round(split.ms)
    }`,
  );
  console.log(`combination-candles/s: ${Math.round(100 * N / median * 1000).toLocaleString("en")}`);
  console.log(
    `best by return: ${JSON.stringify(runs[0].best.params)} ${runs[0].best.inSample.returnPct} %`,
  );
  console.log(JSON.stringify({
    bench: "sweep",
    candles: N,
    combinations: 100,
    cores: navigator.hardwareConcurrency,
    runsMs: ms,
    medianMs: median,
    splitMs: Math.round(split.ms),
    targetMs: 10_000,
  }));
} finally {
  await Deno.remove(dir, { recursive: true });
}
