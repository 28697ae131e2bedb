/**
 * Writes the deterministic sample candle file used to try `backtest` offline:
 *   deno run --allow-write scripts/gen_sample_candles.ts [--count N] [--seed S] [--out FILE]
 * The defaults reproduce samples/btcusdt_1m_sample.csv byte for byte.
 */
import { parseArgs } from "node:util";
import { candleCsvLine, generateCandles } from "../backtest/sample.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "5000" },
    seed: { type: "string", default: "42" },
    out: { type: "string", default: "samples/btcusdt_1m_sample.csv" },
    ts: { type: "string", default: "iso" },
  },
});
const count = Number(values.count);
const seed = Number(values.seed);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
  throw new Error(`--count and --seed must be whole numbers, got ${values.count}, ${values.seed}`);
}
const lines = ["ts,open,high,low,close,volume"];
generateCandles(
  { count, seed, startTs: Date.UTC(2024, 0, 1) },
  (c) => lines.push(candleCsvLine(c, values.ts === "ms" ? "ms" : "iso")),
);
await Deno.writeTextFile(values.out!, lines.join("\n") + "\n");
