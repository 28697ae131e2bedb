/**
 * Pruning keeps the backup just taken, even when its name sorts older than the others (the
 * clock was set back): by name alone it was the first deleted, leaving only the older ones.
 * It also clears what killed backups left behind.
 */
import assert from "node:assert/strict";
import { listBackups, pruneBackups } from "../../../ops/backup.ts";

Deno.test("the backup just taken is kept however its name sorts; the newest others fill the rest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pgsl-prune-" });
  try {
    for (let d = 1; d <= 5; d++) {
      await Deno.writeTextFile(`${dir}/pg-solo-lite-2026110${d}T030000Z.tar.gz`, "x");
    }
    // Taken after the clock went back a month.
    const taken = `${dir}/pg-solo-lite-20261001T030000Z.tar.gz`;
    await Deno.writeTextFile(taken, "x");
    const pruned = await pruneBackups(dir, 2, taken);
    assert.deepEqual(pruned, [
      "pg-solo-lite-20261104T030000Z.tar.gz",
      "pg-solo-lite-20261103T030000Z.tar.gz",
      "pg-solo-lite-20261102T030000Z.tar.gz",
      "pg-solo-lite-20261101T030000Z.tar.gz",
    ]);
    assert.deepEqual((await listBackups(dir)).map((b) => b.name), [
      "pg-solo-lite-20261105T030000Z.tar.gz",
      "pg-solo-lite-20261001T030000Z.tar.gz",
    ]);
    // A killed backup's .partial file over a day old goes; a fresh one (a backup under way) stays.
    const stale = `${dir}/pg-solo-lite-20261102T030000Z.tar.gz.0000.partial`;
    const fresh = `${dir}/pg-solo-lite-20261106T030000Z.tar.gz.1111.partial`;
    await Deno.writeTextFile(stale, "half");
    await Deno.writeTextFile(fresh, "half");
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    await Deno.utime(stale, twoDaysAgo, twoDaysAgo);
    assert.deepEqual(await pruneBackups(dir, 2, taken), []);
    await assert.rejects(Deno.stat(stale), Deno.errors.NotFound);
    await Deno.stat(fresh);
    // Keeping one keeps only the one just taken.
    assert.deepEqual(await pruneBackups(dir, 1, taken), ["pg-solo-lite-20261105T030000Z.tar.gz"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
