/**
 * A backup through a running serve's local socket (db/local_server.ts `dump`): the client waits
 * as long as it was told, not the 10 s of a statement, and a copy the serve wrote into
 * DATA_DIR/run never outlives the connection that asked for it: not when the client gave up,
 * not when it died after the answer, not when the dump failed; leftovers of earlier serves are
 * deleted when serve starts and before each dump.
 */
import assert from "node:assert/strict";
import type { Db } from "../../../db/db.ts";
import { serveLocalSocket } from "../../../db/local_server.ts";
import { connectLocalSocket } from "../../../db/local_client.ts";
import { encode, localSocketDir, localSocketPath } from "../../../db/local_wire.ts";
import { serviceTest } from "../../helpers/fixtures.ts";
import { takeBackup } from "../../../ops/mod.ts";

/** Only what the dump needs: a database whose dump waits for `release` (or fails). */
function dumpingDb() {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const state = { slow: false, fail: false, dumps: 0 };
  const db: Db = {
    kind: "embedded",
    query: () => Promise.resolve([]),
    exec: () => Promise.resolve(),
    transaction: (fn) => fn(db),
    listen: () => Promise.resolve(() => Promise.resolve()),
    tryLockInstance: () => Promise.resolve(true),
    dumpDataDir: async () => {
      state.dumps++;
      if (state.slow) await gate;
      if (state.fail) throw new Error("PGlite ran out of memory");
      return new Blob([new Uint8Array(4096).fill(7)]);
    },
    close: () => Promise.resolve(),
  };
  return { db, state, release };
}

const dumpsIn = (dataDir: string) =>
  [...Deno.readDirSync(localSocketDir(dataDir))].map((e) => e.name).filter((n) =>
    n.startsWith("dump-")
  );

async function until(check: () => boolean, what: string) {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`Timed out waiting until ${what}`);
}

Deno.test({
  name: "a dump the client stopped waiting for is deleted once the serve has written it",
  ...serviceTest,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "pgsl-dump-" });
    const { db, state, release } = dumpingDb();
    const server = await serveLocalSocket(db, dataDir);
    try {
      state.slow = true;
      const client = (await connectLocalSocket(localSocketPath(dataDir)))!;
      await assert.rejects(
        client.dumpDataDir!({ timeoutMs: 200 }),
        /The running serve's dump timed out after 200 ms/,
      );
      await client.close();
      release();
      await until(() => state.dumps === 1, "the serve has dumped");
    } finally {
      // Waits for the serve's handler of that client to finish (write, fail to answer, clean).
      await server.close();
    }
    assert.deepEqual(dumpsIn(dataDir), []);
    await Deno.remove(dataDir, { recursive: true });
  },
});

Deno.test({
  name: "a backup through serve past BACKUP_TIMEOUT_S says so and writes nothing",
  ...serviceTest,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "pgsl-dump-" });
    const { db, state, release } = dumpingDb();
    const server = await serveLocalSocket(db, dataDir);
    try {
      state.slow = true;
      const client = (await connectLocalSocket(localSocketPath(dataDir)))!;
      try {
        await assert.rejects(
          takeBackup(client, `${dataDir}-out`, { now: new Date(), timeoutMs: 300 }),
          /did not finish within 0.3 s \(BACKUP_TIMEOUT_S\); nothing was written/,
        );
      } finally {
        await client.close();
      }
      assert.deepEqual([...Deno.readDirSync(`${dataDir}-out`)], []);
      release();
    } finally {
      await server.close();
      assert.deepEqual(dumpsIn(dataDir), []);
      await Deno.remove(dataDir, { recursive: true });
      await Deno.remove(`${dataDir}-out`, { recursive: true });
    }
  },
});

Deno.test({
  name: "a dump answered but never taken is deleted when its client hangs up",
  ...serviceTest,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "pgsl-dump-" });
    const { db } = dumpingDb();
    const server = await serveLocalSocket(db, dataDir);
    try {
      // A client that dies right after the answer: it never reads or deletes the file.
      const conn = await Deno.connect({ transport: "unix", path: localSocketPath(dataDir) });
      await conn.write(new TextEncoder().encode(encode({ id: 1, op: "dump" })));
      const reader = conn.readable.pipeThrough(new TextDecoderStream()).getReader();
      let line = "";
      while (!line.includes("\n")) line += (await reader.read()).value ?? "";
      const { path } = JSON.parse(line).rows[0];
      assert.ok(Deno.statSync(path).isFile);
      await reader.cancel();
      try {
        conn.close();
      } catch {
        // Closed by the cancel.
      }
      await until(() => dumpsIn(dataDir).length === 0, "the serve deleted the untaken dump");

      // The ordinary way: the client reads its copy, and nothing is left.
      const client = (await connectLocalSocket(localSocketPath(dataDir)))!;
      try {
        assert.equal((await client.dumpDataDir!()).size, 4096);
      } finally {
        await client.close();
      }
      assert.deepEqual(dumpsIn(dataDir), []);
    } finally {
      await server.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a failed dump leaves no file and tells the client why",
  ...serviceTest,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "pgsl-dump-" });
    const { db, state } = dumpingDb();
    const server = await serveLocalSocket(db, dataDir);
    try {
      state.fail = true;
      const client = (await connectLocalSocket(localSocketPath(dataDir)))!;
      try {
        await assert.rejects(client.dumpDataDir!(), /PGlite ran out of memory/);
      } finally {
        await client.close();
      }
      assert.deepEqual(dumpsIn(dataDir), []);
    } finally {
      await server.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "leftover dumps of earlier attempts are deleted when serve starts and before a dump",
  ...serviceTest,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "pgsl-dump-" });
    const run = localSocketDir(dataDir);
    const leftover = () => `${run}/dump-${crypto.randomUUID()}.tar.gz`;
    await Deno.mkdir(run, { recursive: true });
    await Deno.writeTextFile(leftover(), "from a serve killed during a dump");
    await Deno.writeTextFile(`${run}/notes.txt`, "not a dump: kept");
    const { db } = dumpingDb();
    const server = await serveLocalSocket(db, dataDir);
    try {
      assert.deepEqual(dumpsIn(dataDir), [], "swept at the start");
      await Deno.writeTextFile(leftover(), "from a client killed after its answer");
      const client = (await connectLocalSocket(localSocketPath(dataDir)))!;
      try {
        await client.dumpDataDir!();
      } finally {
        await client.close();
      }
      assert.deepEqual(dumpsIn(dataDir), [], "swept before the dump");
      assert.ok(Deno.statSync(`${run}/notes.txt`).isFile);
    } finally {
      await server.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
