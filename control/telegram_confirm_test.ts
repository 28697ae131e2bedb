import assert from "node:assert/strict";
import { decodeExitConfirmation, encodeExitConfirmation } from "./telegram_confirm.ts";

Deno.test("an exit confirmation round-trips within Telegram's 64 bytes", () => {
  const c = {
    positionId: Number.MAX_SAFE_INTEGER,
    openedAtMs: Date.parse("2099-12-31T23:59:59.999Z"),
    expiresAtMs: Date.parse("2100-01-01T00:01:00Z"),
  };
  const data = encodeExitConfirmation(c);
  assert.ok(new TextEncoder().encode(data).length <= 64, data);
  assert.deepEqual(decodeExitConfirmation(data), c);
});

Deno.test("the expiry is rounded up to the second, never earlier than asked", () => {
  const data = encodeExitConfirmation({ positionId: 1, openedAtMs: 5, expiresAtMs: 1_500 });
  assert.equal(decodeExitConfirmation(data)?.expiresAtMs, 2_000);
});

Deno.test("data that is not an exit confirmation is refused", () => {
  for (
    const d of ["", "exit", "exit:1:2", "exit:1:2:3:4", "exit:-1:2:3", "cancel:1:2:3", "exit:Z:1:1"]
  ) {
    assert.equal(decodeExitConfirmation(d), undefined, d);
  }
});
