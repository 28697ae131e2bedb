import assert from "node:assert/strict";
import { runCli } from "../../helpers/process.ts";

const SAMPLE = "samples/btcusdt_1m_sample.csv";

Deno.test("backtest --sweep --split --json: every combination, ranked, out-of-sample beside", async () => {
  const r = await runCli([
    "backtest",
    "--csv",
    SAMPLE,
    "--sweep",
    "ema_fast=8..12:2,stop_pct=1|2",
    "--rank",
    "max_dd",
    "--split",
    "0.7",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.combinations, 6);
  assert.equal(out.results.length, 6);
  assert.equal(out.inSampleCandles + out.outOfSampleCandles, out.candles);
  assert.equal(out.inSampleCandles, Math.floor(out.candles * 0.7));
  const dd = out.results.map((x: { inSample: { maxDrawdownPct: number } }) =>
    x.inSample.maxDrawdownPct
  );
  assert.deepEqual(dd, [...dd].sort((a, b) => a - b), "ranked by the smallest drawdown");
  for (const x of out.results) assert.ok(x.outOfSample && "returnPct" in x.outOfSample);
});

Deno.test("sweep flags are checked before anything is read", async () => {
  for (
    const [args, re] of [
      [["--sweep", "ema_fats=1..2"], /expected name=from..to:step/],
      [["--sweep", "ema_fast=8..9", "--rank", "luck"], /--rank must be one of/],
      [["--sweep", "ema_fast=8..9", "--split", "1.5"], /--split must be a fraction/],
      [["--split", "0.7"], /go with --sweep/],
      [["--sweep", "ema_fast=8..9", "--trades"], /single backtest/],
    ] as const
  ) {
    const r = await runCli(["backtest", "--csv", SAMPLE, ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
  }
});
