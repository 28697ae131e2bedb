/**
 * A DATABASE_URL's password reaches no error message, whatever characters it holds: the
 * driver's own errors and "Cannot reach the database at …" name the URL without it, and
 * `doctor` (which prints its checks as they are) shows none of it either. The passwords are
 * ones libpq and postgres.js read as given, unencoded.
 */
import assert from "node:assert/strict";
import { openServerDb } from "../../../db/server.ts";
import { runCli } from "../../helpers/process.ts";

const SECRET = "S3cret-tail";
/** Port 1: nothing listens there, so the connect fails at once. */
const URLS = [
  `postgres://app:p@ss-${SECRET}@127.0.0.1:1/pgsl`,
  `postgres://app:p ss-${SECRET}@127.0.0.1:1/pgsl`,
  `postgres://app:pa?ss-${SECRET}@127.0.0.1:1/pgsl`,
  `postgres://app:pa#ss-${SECRET}@127.0.0.1:1/pgsl`,
];

Deno.test("a database URL's password is in no error of the driver", async () => {
  for (const url of URLS) {
    const error = await openServerDb({ url, poolSize: 1 }).then(
      (db) => db.close().then(() => undefined),
      (e: Error) => e,
    );
    assert.ok(error, `${url} opened`);
    assert.ok(!error.message.includes(SECRET), error.message);
    assert.match(
      error.message,
      /Cannot reach the database at postgres:\/\/app@127\.0\.0\.1:1|percent-encode/,
    );
  }
});

Deno.test("doctor prints no part of a database URL's password", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "pgsl-doctor-url-" });
  try {
    for (const url of [...URLS, `postgres://app:x@127.0.0.1:1/pgsl?password=q-${SECRET}`]) {
      const r = await runCli(["doctor"], { DATA_DIR: dataDir, DATABASE_URL: url });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /FAIL {2}database/);
      assert.ok(!(r.stdout + r.stderr).includes(SECRET), r.stdout + r.stderr);
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
