/**
 * The report page: one self-contained HTML document (inline CSS, inline SVG charts, no script,
 * no asset from elsewhere), readable on a phone, light or dark as the reader's system prefers.
 * Every value from the database is escaped. Elements carry `data-metric` names so that a test
 * (or a scraper) finds the headline numbers.
 */
import type { Snapshot } from "./metrics.ts";

export interface PageInput {
  title: string;
  subtitle: string;
  snapshot: Pick<Snapshot, "quote" | "metrics" | "curve" | "trades" | "bySymbol" | "byStrategy"> & {
    openPositions?: Snapshot["openPositions"];
    lackedPrices?: Snapshot["lackedPrices"];
  };
  /** Extra metric rows (a backtest's Sharpe, Sortino, expectancy …): key, label, value. */
  extra?: [string, string, string][];
}

const esc = (v: unknown) =>
  String(v ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

export const num = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined || !Number.isFinite(v)
    ? "–"
    : v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

export const pct = (
  v: number | null | undefined,
) => (v === null || v === undefined ? "–" : `${num(v)} %`);

/** The page of a stored report. */
export function renderReportPage(r: {
  kind: string;
  scope: string;
  periodStart: Date;
  periodEnd: Date;
  partial: boolean;
  createdAt: Date;
  snapshot: Snapshot;
}): string {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const last = new Date(r.periodEnd.getTime() - 1);
  const span = r.kind === "daily" ? day(r.periodStart) : `${day(r.periodStart)} – ${day(last)}`;
  return renderPage({
    title: `${r.kind === "daily" ? "Daily" : "Weekly"} report ${span}`,
    subtitle: `${r.scope} · ${r.partial ? "partial, so far" : "closed period"} · made ${
      r.createdAt.toISOString().replace("T", " ").slice(0, 16)
    } UTC`,
    snapshot: r.snapshot,
  });
}

export function renderPage(p: PageInput): string {
  const s = p.snapshot;
  const m = s.metrics;
  const q = esc(s.quote);
  const headline: [string, string, string][] = [
    ["endEquity", "Equity", `${num(m.endEquity)} ${q}`],
    ["returnPct", "Return", pct(m.returnPct)],
    ["realizedPnl", "Realized PnL", `${num(m.realizedPnl)} ${q}`],
    ["trades", "Trades", String(m.trades)],
    ["winRatePct", "Win rate", pct(m.winRatePct)],
    ["maxDrawdownPct", "Max drawdown", pct(m.maxDrawdownPct)],
  ];
  const details: [string, string, string][] = [
    ["startEquity", "Starting equity", `${num(m.startEquity)} ${q}`],
    ["fees", "Fees", `${num(m.fees)} ${q}`],
    ["fills", "Fills", String(m.fills)],
    ["winsLosses", "Wins / losses", `${m.wins} / ${m.losses}`],
    ["avgWin", "Average win", `${num(m.avgWin)} ${q}`],
    ["avgLoss", "Average loss", `${num(m.avgLoss)} ${q}`],
    ["profitFactor", "Profit factor", num(m.profitFactor)],
    ["maxDrawdown", "Max drawdown", `${num(m.maxDrawdown)} ${q}`],
    ["exposurePct", "Exposure", pct(m.exposurePct)],
    ...(p.extra ?? []),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">
<title>${esc(p.title)}</title>
<style>${CSS}</style></head>
<body><main>
<h1>${esc(p.title)}</h1><p class="sub">${esc(p.subtitle)}</p>
<section class="cards">${
    headline.map(([k, label, v]) =>
      `<div class="card"><span>${esc(label)}</span><b data-metric="${k}">${esc(v)}</b></div>`
    ).join("")
  }</section>
${lackedNote(s.lackedPrices ?? [])}<h2>Equity</h2>${equitySvg(s.curve)}
<h2>Drawdown</h2>${drawdownSvg(s.curve)}
<h2>Numbers</h2><table class="kv">${
    details.map(([key, k, v]) =>
      `<tr><th>${esc(k)}</th><td data-metric="${esc(key)}">${esc(v)}</td></tr>`
    ).join("")
  }</table>
${groupTable("By strategy", s.byStrategy, q)}${groupTable("By symbol", s.bySymbol, q)}
${openTable(s.openPositions ?? [], q)}${tradesTable(s.trades, q)}
</main></body></html>
`;
}

/** Symbols without a candle at the period's end: valued at an older price. */
function lackedNote(lacked: NonNullable<Snapshot["lackedPrices"]>): string {
  if (lacked.length === 0) return "";
  const items = lacked.map((l) =>
    `${l.symbol} (${
      l.pricedAt
        ? `its latest candle closed ${l.pricedAt.replace("T", " ").slice(0, 16)} UTC`
        : "no candle since the day before the period"
    })`
  );
  return `<p class="sub" data-metric="lackedPrices">No price at the period's end for ${
    esc(items.join(", "))
  }: valued at the latest price known before it.</p>\n`;
}

const CSS = `:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--mut:#5b6570;--line:#d8dde3;
--card:#f4f6f8;--eq:#1a73e8;--dd:#d93025}
@media (prefers-color-scheme:dark){:root{--bg:#111417;--fg:#e6e9ec;--mut:#98a2ad;--line:#2c3238;
--card:#1b2025;--eq:#8ab4f8;--dd:#f28b82}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:960px;margin:0 auto;padding:16px}h1{font-size:1.4em;margin:.2em 0}
h2{font-size:1.05em;margin:1.4em 0 .5em}.sub{color:var(--mut);margin:0 0 1em}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:8px}
.card{background:var(--card);border-radius:8px;padding:10px 12px}.card span{display:block;
color:var(--mut);font-size:.85em}.card b{font-size:1.2em;font-variant-numeric:tabular-nums}
svg{width:100%;height:auto;display:block;background:var(--card);border-radius:8px}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line)}
td.n,th.n{text-align:right}.kv th{font-weight:normal;color:var(--mut);width:50%}
.wrap{overflow-x:auto}.pos{color:#188038}.neg{color:var(--dd)}
@media (prefers-color-scheme:dark){.pos{color:#81c995}}`;

const W = 900;
const H = 240;
const PAD = 8;

function scale(values: number[]) {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || Math.abs(hi) || 1;
  return (v: number) => PAD + (H - 2 * PAD) * (1 - (v - lo) / span);
}

function path(values: number[]): string {
  if (values.length === 0) return "";
  const y = scale(values);
  const dx = values.length > 1 ? (W - 2 * PAD) / (values.length - 1) : 0;
  return values.map((v, i) =>
    `${i === 0 ? "M" : "L"}${(PAD + i * dx).toFixed(1)},${y(v).toFixed(1)}`
  )
    .join(" ");
}

function equitySvg(curve: { equity: number }[]): string {
  const values = curve.map((c) => c.equity);
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Equity curve" data-chart="equity" data-points="${values.length}"><path d="${
    path(values)
  }" fill="none" stroke="var(--eq)" stroke-width="2"/></svg>`;
}

function drawdownSvg(curve: { equity: number }[]): string {
  let peak = -Infinity;
  const dd = curve.map((c) => {
    peak = Math.max(peak, c.equity);
    return peak > 0 ? -((peak - c.equity) / peak) * 100 : 0;
  });
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Drawdown" data-chart="drawdown" data-points="${dd.length}"><path d="${
    path([...dd])
  }" fill="none" stroke="var(--dd)" stroke-width="2"/></svg>`;
}

const signed = (v: number, q: string) =>
  `<td class="n ${v > 0 ? "pos" : v < 0 ? "neg" : ""}">${esc(num(v))} ${q}</td>`;

function groupTable(title: string, rows: Snapshot["bySymbol"], q: string): string {
  if (rows.length === 0) return "";
  return `<h2>${
    esc(title)
  }</h2><div class="wrap"><table><tr><th>name</th><th class="n">trades</th><th class="n">wins</th><th class="n">PnL</th><th class="n">fees</th></tr>${
    rows.map((g) =>
      `<tr><td>${esc(g.name)}</td><td class="n">${g.trades}</td><td class="n">${g.wins}</td>${
        signed(g.pnl, q)
      }<td class="n">${esc(num(g.fees))} ${q}</td></tr>`
    ).join("")
  }</table></div>`;
}

/** A symbol, with its account's name in a report of several accounts. */
const whose = (r: { symbol: string; account?: string }) =>
  r.account ? `${r.symbol} · ${r.account}` : r.symbol;

function openTable(rows: Snapshot["openPositions"], q: string): string {
  if (rows.length === 0) return "";
  return `<h2>Open at the end</h2><div class="wrap"><table><tr><th>symbol</th><th class="n">qty</th><th class="n">avg entry</th><th class="n">price</th></tr>${
    rows.map((o) =>
      `<tr><td>${esc(whose(o))}</td><td class="n">${esc(num(o.qty, 8))}</td><td class="n">${
        esc(num(o.avgEntry))
      } ${q}</td><td class="n">${esc(num(o.price))} ${q}</td></tr>`
    ).join("")
  }</table></div>`;
}

function tradesTable(rows: Snapshot["trades"], q: string): string {
  const body = rows.length === 0
    ? `<tr><td colspan="6">No trade closed in this period</td></tr>`
    : rows.map((t) =>
      `<tr><td>${esc(whose(t))}</td><td>${esc(t.strategy ?? "")}</td><td>${
        esc(t.openedAt.slice(0, 16).replace("T", " "))
      }</td><td>${esc(t.closedAt.slice(0, 16).replace("T", " "))}</td>${
        signed(t.pnl, q)
      }<td class="n">${esc(num(t.fees))} ${q}</td></tr>`
    ).join("");
  return `<h2>Trades</h2><div class="wrap"><table data-table="trades"><tr><th>symbol</th><th>strategy</th><th>opened</th><th>closed</th><th class="n">PnL</th><th class="n">fees</th></tr>${body}</table></div>`;
}
