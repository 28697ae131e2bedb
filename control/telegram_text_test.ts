import assert from "node:assert/strict";
import { cutText, splitReply } from "./telegram_text.ts";

Deno.test("a short reply is one part", () => {
  assert.deepEqual(splitReply("a\nb"), ["a\nb"]);
});

Deno.test("a long reply is split on line boundaries, every part within the limit, nothing lost", () => {
  const lines = Array.from({ length: 500 }, (_, i) => `order #${i} BTC/USDT buy 0.001 @ 50000`);
  const text = lines.join("\n");
  const parts = splitReply(text, 4096);
  assert.ok(parts.length > 1);
  assert.ok(parts.every((p) => p.length <= 4096));
  assert.equal(parts.join("\n"), text);
  // No line is broken across two parts.
  for (const p of parts) for (const l of p.split("\n")) assert.ok(lines.includes(l), l);
});

Deno.test("a line longer than the limit is cut, and no surrogate pair is broken", () => {
  const line = "💰".repeat(10);
  const parts = splitReply(`head\n${line}`, 4);
  assert.ok(parts.every((p) => [...p].length <= 4));
  assert.equal(parts.join(""), `head${line}`);
  assert.ok(parts.every((p) => !/[\uD800-\uDBFF]$/.test(p)));
});

Deno.test("a blank reply becomes a short placeholder (Telegram refuses empty text)", () => {
  assert.deepEqual(splitReply("\n\n"), ["(empty)"]);
});

Deno.test("the limit is in UTF-16 units, as Telegram counts: a long line of emoji fits", () => {
  const line = "🔥".repeat(3000); // 3000 code points, 6000 UTF-16 units
  const parts = splitReply(`paused (${line})\n${"🔥".repeat(1500)}`, 4096);
  assert.ok(parts.every((p) => p.length <= 4096), parts.map((p) => p.length).join(", "));
  assert.ok(parts.every((p) => !/[\uD800-\uDBFF]$/.test(p) && !/^[\uDC00-\uDFFF]/.test(p)));
  assert.equal(parts.join(""), `paused (${line})${"🔥".repeat(1500)}`);
});

Deno.test("a button's answer is cut in UTF-16 units, never inside a surrogate pair", () => {
  assert.equal(cutText(`${"a".repeat(199)}💰 more`, 200), "a".repeat(199));
  assert.equal(cutText("short", 200), "short");
});
