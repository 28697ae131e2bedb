import assert from "node:assert/strict";
import { splitReply } from "./telegram_text.ts";

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
