import assert from "node:assert/strict";
import { escapeHtml, renderMessage, trimText, visibleText } from "./format.ts";

Deno.test("escapeHtml escapes exactly the three characters HTML parse mode needs", () => {
  assert.equal(escapeHtml("P&L <5% > -2.5 \"q\" 'a'"), "P&amp;L &lt;5% &gt; -2.5 \"q\" 'a'");
  assert.equal(escapeHtml("&amp;"), "&amp;amp;");
});

Deno.test("trimText leaves short text alone and trims long text with a marker", () => {
  assert.equal(trimText("hello", 10), "hello");
  const long = "x".repeat(5000);
  const out = trimText(long, 4096);
  assert.equal(out.length <= 4096, true);
  assert.match(out, /\n… \[trimmed \d+ characters\]$/);
  const kept = out.indexOf("\n…");
  assert.equal(out.endsWith(`[trimmed ${5000 - kept} characters]`), true);
});

Deno.test("trimText never cuts a surrogate pair in half", () => {
  const text = "a" + "😀".repeat(3000);
  const out = trimText(text, 100);
  const body = out.slice(0, out.indexOf("\n…"));
  assert.equal(body.length <= 100, true);
  assert.equal(/[\ud800-\udbff]$/.test(body), false);
});

Deno.test("renderMessage escapes the text and keeps the visible length within 4096", () => {
  const html = renderMessage({ severity: "WARN", kind: "risk", text: "<b>&".repeat(3000) });
  assert.equal(visibleText(html).length <= 4096, true);
  assert.match(html, /^<b>⚠️ WARN · risk<\/b>\n&lt;b&gt;&amp;/);
  assert.match(visibleText(html), /trimmed \d+ characters\]$/);
});

Deno.test("renderMessage keeps a message that fits unchanged", () => {
  const html = renderMessage({ severity: "INFO", kind: "fill", text: "Bought 0.1 BTC @ 50000" });
  assert.equal(visibleText(html), "ℹ️ INFO · fill\nBought 0.1 BTC @ 50000");
});
