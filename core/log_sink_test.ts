import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { batchSink } from "./log_sink.ts";
import { limits } from "./limits.ts";

const record = (n: number) =>
  ({ message: [`line ${n}`], properties: { n } }) as unknown as LogRecord;

Deno.test("records are written in one batch after the timer, in order, nothing lost", async () => {
  const writes: string[] = [];
  const b = batchSink((r, out) => out.push(`${r.properties.n}\n`), (t) => writes.push(t));
  for (let i = 1; i <= 5; i++) b.sink(record(i));
  assert.equal(writes.length, 0, "not on the caller's path");
  await new Promise((r) => setTimeout(r, limits.logFlushMs * 4));
  assert.deepEqual(writes, ["1\n2\n3\n4\n5\n"]);
  b.sink(record(6));
  b.flush();
  b.flush();
  assert.deepEqual(writes, ["1\n2\n3\n4\n5\n", "6\n"]);
});

Deno.test("a large batch is written at once; a record that fails to format loses only itself", () => {
  const writes: string[] = [];
  const b = batchSink((r, out) => {
    if (r.properties.n === 2) throw new Error("odd record");
    out.push(`${r.properties.n}\n`);
  }, (t) => writes.push(t));
  const many = Math.ceil(limits.logFlushBytes / 200);
  for (let i = 1; i <= many; i++) b.sink(record(i));
  assert.equal(writes.length, 1, "flushed without waiting for the timer");
  const lines = writes[0].trim().split("\n");
  assert.equal(lines.length, many);
  assert.match(lines[1], /could not be formatted/);
  assert.equal(lines[many - 1], String(many));
});
