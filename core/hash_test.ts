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
