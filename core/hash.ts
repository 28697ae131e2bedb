/**
 * SHA-256, the one hash of the project: idempotency keys, client order ids, migration
 * checksums, dedupe keys and token comparison all use it. Synchronous (node:crypto), so a
 * caller never awaits a hash.
 */
import { createHash, hash } from "node:crypto";

/** The digest of a UTF-8 text as raw bytes (for constant-time comparison). */
export function sha256Bytes(text: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(text).digest());
}

/** The digest of a UTF-8 text as 64 lowercase hex characters. */
export function sha256Hex(text: string): string {
  // One shot: no Hash object (a stream in Deno's node:crypto) per call.
  return hash("sha256", text, "hex");
}
