import assert from "node:assert/strict";
import {
  ACTIVE_ALERT_STATUSES,
  ACTIVE_ORDER_STATUSES,
  ACTIVE_ORDER_STATUSES_SQL,
  ALERT_STATUSES,
  isActiveOrderStatus,
  ORDER_STATUSES,
} from "./statuses.ts";

Deno.test("the active statuses are a subset of all statuses", () => {
  for (const s of ACTIVE_ORDER_STATUSES) assert.ok(ORDER_STATUSES.includes(s), s);
  for (const s of ACTIVE_ALERT_STATUSES) assert.ok(ALERT_STATUSES.includes(s), s);
});

Deno.test("only orders that may still trade are active", () => {
  assert.ok(isActiveOrderStatus("UNKNOWN"));
  for (const s of ["FILLED", "CANCELED", "REJECTED", "EXPIRED", "open", ""]) {
    assert.equal(isActiveOrderStatus(s), false, s);
  }
});

Deno.test("the SQL list reads like the lists of the migrations", () => {
  assert.equal(ACTIVE_ORDER_STATUSES_SQL, "('NEW', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED')");
});

Deno.test("the statuses match the check constraints of the migrations", async () => {
  const sql = await Deno.readTextFile(new URL("../db/migrations/0001_core.sql", import.meta.url));
  const list = (xs: readonly string[]) => xs.map((s) => `'${s}'`).join(", ");
  assert.ok(sql.includes(`(${list(ORDER_STATUSES)})`), "orders.status check");
  assert.ok(sql.includes(`(${list(ALERT_STATUSES)})`), "inbound_alerts.status check");
  assert.ok(sql.includes(`status in ${ACTIVE_ORDER_STATUSES_SQL}`), "active orders index");
});
