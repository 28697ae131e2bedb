/**
 * The report page as a person sees it, in headless Chromium: a phone-width and a desktop-width
 * screenshot are not blank, the equity curve has one point per sample, and the headline numbers
 * in the DOM are the snapshot's. Needs Debian's chromium (.ci/run installs it when missing).
 * WRITE_SCREENSHOTS=1 also writes docs/img/report.png, the picture in README.
 */
import assert from "node:assert/strict";
import { computeSnapshot, type FillRow, type LedgerLeg } from "../../../report/metrics.ts";
import { periodOf } from "../../../report/period.ts";
import { renderReportPage } from "../../../report/page.ts";
import { CHROMIUM, dumpDom, screenshot } from "../../helpers/chromium.ts";
import { pngStats } from "../../helpers/png.ts";

/** A week of hourly trading on a seeded random walk: enough to draw a curve worth looking at. */
function sampleWeek() {
  const period = periodOf("weekly", new Date("2026-11-23T12:00:00Z"));
  let seed = 7;
  const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const legs: LedgerLeg[] = [
    {
      asset: "USDT",
      amount: 10_000,
      at: new Date(period.start.getTime() - 3_600_000),
      kind: "deposit",
    },
  ];
  const fills: FillRow[] = [];
  let price = 50_000;
  for (let h = 1; h < 7 * 24 - 2; h += 5) {
    const open = new Date(period.start.getTime() + h * 3_600_000);
    const close = new Date(open.getTime() + 3 * 3_600_000);
    const qty = 0.02;
    const exit = price * (1 + (rand() - 0.45) * 0.03);
    const strategy = h % 2 ? "trend" : "swing";
    for (const [side, at, p] of [["buy", open, price], ["sell", close, exit]] as const) {
      const fee = qty * p * 0.001;
      fills.push({ symbol: "BTC/USDT", side, qty, price: p, fee, feeAsset: "USDT", at, strategy });
      const sign = side === "buy" ? 1 : -1;
      legs.push({ asset: "BTC", amount: sign * qty, at, kind: "trade" });
      legs.push({ asset: "USDT", amount: -sign * qty * p, at, kind: "trade" });
      legs.push({ asset: "USDT", amount: -fee, at, kind: "fee" });
    }
    price = exit;
  }
  const snapshot = computeSnapshot({
    period,
    until: period.end,
    quote: "USDT",
    legs,
    fills,
    prices: [],
    funded: true,
  });
  return {
    kind: "weekly",
    scope: "binance:paper",
    periodStart: period.start,
    periodEnd: period.end,
    partial: false,
    createdAt: new Date("2026-11-30T00:01:00Z"),
    snapshot,
  };
}

const missing = CHROMIUM ? "" : " (needs Chromium: apt-get install -y chromium)";

Deno.test({
  name:
    "the report page renders in Chromium at phone and desktop width with the snapshot's numbers" +
    missing,
  ignore: !CHROMIUM,
  fn: async () => {
    const report = sampleWeek();
    const dir = await Deno.makeTempDir({ prefix: "pgsl-page-" });
    try {
      const file = `${dir}/report.html`;
      await Deno.writeTextFile(file, renderReportPage(report));
      const url = `file://${file}`;
      for (const [width, height] of [[390, 1600], [1280, 1600]]) {
        const png = await screenshot(url, `${dir}/shot-${width}.png`, width, height);
        const stats = await pngStats(png);
        assert.equal(stats.width, width);
        assert.ok(stats.colours > 20, `${width}px: ${stats.colours} colours is a blank page`);
        assert.ok(stats.dominantShare < 0.97, `${width}px: one colour covers the page`);
        if (width === 1280 && Deno.env.get("WRITE_SCREENSHOTS") === "1") {
          await Deno.writeFile(new URL("../../../docs/img/report.png", import.meta.url), png);
        }
      }
      const dom = await dumpDom(url);
      const equity = /<svg[^>]*data-chart="equity"[^>]*>\s*<path d="([^"]*)"/.exec(dom);
      assert.ok(equity, "the equity chart is in the DOM");
      const points = equity[1].match(/[ML]/g) ?? [];
      assert.equal(points.length, report.snapshot.curve.length, "one point per sample");
      const metric = (k: string) => new RegExp(`data-metric="${k}">([^<]*)<`).exec(dom)?.[1];
      const m = report.snapshot.metrics;
      const fmt = (n: number) =>
        n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      assert.equal(metric("endEquity"), `${fmt(m.endEquity)} USDT`);
      assert.equal(metric("returnPct"), `${fmt(m.returnPct!)} %`);
      assert.equal(metric("trades"), String(m.trades));
      assert.equal(metric("winRatePct"), `${fmt(m.winRatePct!)} %`);
      assert.ok(m.trades > 20, "the sample has trades to show");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
