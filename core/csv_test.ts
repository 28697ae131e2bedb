import assert from "node:assert/strict";
import { parseCsvLine, readLines } from "./csv.ts";

const streamOf = (...parts: string[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(new TextEncoder().encode(p));
      c.close();
    },
  });

Deno.test("lines are split across chunks, CRLF handled, long lines reported", async () => {
  const out = [];
  for await (const l of readLines(streamOf("a,b\r\nc", "d\n", "x".repeat(20), "\nlast"), 10)) {
    out.push(l);
  }
  assert.deepEqual(out, [
    { lineNo: 1, text: "a,b" },
    { lineNo: 2, text: "cd" },
    { lineNo: 3, tooLong: true },
    { lineNo: 4, text: "last" },
  ]);
});

Deno.test("quoted fields keep commas and doubled quotes; broken quotes are errors", () => {
  assert.deepEqual(parseCsvLine('a, "b,c" ,"say ""hi"""'), {
    ok: true,
    fields: ["a", "b,c", 'say "hi"'],
  });
  assert.deepEqual(parseCsvLine('"a"b'), {
    ok: false,
    error: "Unexpected character after a quoted field at column 4",
  });
  assert.deepEqual(parseCsvLine('a,"b,c","say ""hi""",'), {
    ok: true,
    fields: ["a", "b,c", 'say "hi"', ""],
  });
  assert.equal(parseCsvLine('"open').ok, false);
});
