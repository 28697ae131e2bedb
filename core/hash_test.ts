import assert from "node:assert/strict";
import { sha256Bytes, sha256Hex } from "./hash.ts";

Deno.test("sha256Hex gives the standard digest of a UTF-8 text", () => {
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(sha256Hex("é").length, 64);
});

Deno.test("sha256Bytes is the same digest as raw bytes", () => {
  const bytes = sha256Bytes("abc");
  assert.equal(bytes.length, 32);
  assert.equal(
    Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""),
    sha256Hex("abc"),
  );
});

Deno.test("sha256Hex hashes the UTF-8 of any text as a streamed Hash does", async () => {
  const { createHash } = await import("node:crypto");
  for (const text of ["", "abc", "é", "\u{1F600}", "lone \ud800 surrogate", "x".repeat(10_000)]) {
    assert.equal(sha256Hex(text), createHash("sha256").update(text).digest("hex"), text);
  }
});
