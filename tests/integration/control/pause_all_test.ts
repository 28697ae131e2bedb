/**
 * "Pause" of every account covers an account added while it is in effect: the new account
 * starts paused with the same reason, and only a pause of every enabled account does that.
 */
import assert from "node:assert/strict";
import { pauseTrading, resumeTrading } from "../../../control/mod.ts";
import { activePauses, addAccount, disableAccount } from "../../../execution/mod.ts";
import { testDb } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

const admin = { via: "cli" as const, who: "ops" };
const paper = (name: string) => ({ name, mode: "paper" as const, exchangeId: "binance" });

Deno.test({
  ...serviceTest,
  name: "an account added while every account is paused starts paused; otherwise it does not",
  async fn() {
    await using t = await testDb();
    const db = t.db;
    const pausedNow = async (id: number) =>
      (await activePauses(db, new Date(), id)).map((p) => [p.kind, p.reason]);

    await addAccount(db, paper("alice"));
    assert.equal((await pauseTrading(db, admin, { reason: "exchange incident" })).ok, true);
    const bob = await addAccount(db, paper("bob"));
    assert.equal(bob.pausedWithAll, "exchange incident");
    assert.deepEqual(await pausedNow(bob.id), [["operator", "exchange incident"]]);

    // Resumed everywhere: the next account trades from the start.
    await resumeTrading(db, admin, {});
    const carol = await addAccount(db, paper("carol"));
    assert.equal(carol.pausedWithAll, undefined);
    assert.deepEqual(await pausedNow(carol.id), []);

    // One account paused of several is no pause of all.
    await pauseTrading(db, admin, { account: "alice", reason: "alice only" });
    const dave = await addAccount(db, paper("dave"));
    assert.deepEqual(await pausedNow(dave.id), []);

    // Disabled accounts take no entries anyway: the enabled ones decide.
    for (const name of ["carol", "dave"]) await disableAccount(db, name);
    await pauseTrading(db, admin, { account: "default", reason: "default too" });
    await pauseTrading(db, admin, { account: "bob", reason: "bob too" });
    const erin = await addAccount(db, paper("erin"));
    assert.ok(erin.pausedWithAll !== undefined);
    assert.equal((await pausedNow(erin.id)).length, 1);
  },
});
