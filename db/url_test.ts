import assert from "node:assert/strict";
import { splitUrlSecrets } from "./url.ts";

Deno.test("a URL's password is taken out of user:password@ and decoded", () => {
  assert.deepEqual(splitUrlSecrets("postgres://app:p%40ss%2Bw+rd@db.local:5433/pgsl"), {
    url: "postgres://app@db.local:5433/pgsl",
    password: "p@ss+w+rd",
    otherSecrets: [],
  });
});

Deno.test("a password= parameter is taken out, wins over user:password@, and keeps its +", () => {
  const s = splitUrlSecrets(
    "postgresql://app:old@h/pgsl?sslmode=require&password=n%26w+1&application_name=x",
  );
  assert.equal(s.url, "postgresql://app@h/pgsl?sslmode=require&application_name=x");
  assert.equal(s.password, "n&w+1");
});

Deno.test("other secret parameters are taken out and named, never their value", () => {
  const s = splitUrlSecrets("postgres://app@h/pgsl?sslpassword=keypass&sslmode=verify-full");
  assert.equal(s.url, "postgres://app@h/pgsl?sslmode=verify-full");
  assert.deepEqual(s.otherSecrets, ["sslpassword"]);
  assert.equal(s.password, undefined);
  assert.ok(!JSON.stringify(s).includes("keypass"));
});

Deno.test("a URL without secrets comes back as it was", () => {
  for (const url of ["postgres://app@h/pgsl", "postgres://h:5432/pgsl?sslmode=disable"]) {
    assert.deepEqual(splitUrlSecrets(url), { url, password: undefined, otherSecrets: [] });
  }
});

Deno.test("forms the URL parser refuses but libpq and postgres.js read are split by hand", () => {
  assert.deepEqual(splitUrlSecrets("postgres://app:s3cret-pw@/pgsl?host=/run/postgresql"), {
    url: "postgres://app@/pgsl?host=/run/postgresql",
    password: "s3cret-pw",
    otherSecrets: [],
  });
  assert.deepEqual(splitUrlSecrets("postgres://app:pw@h1:5432,h2:5433/pgsl?password=q"), {
    url: "postgres://app@h1:5432,h2:5433/pgsl",
    password: "q",
    otherSecrets: [],
  });
  const bare = "postgres://app@/pgsl?host=/run/postgresql";
  assert.deepEqual(splitUrlSecrets(bare), { url: bare, password: undefined, otherSecrets: [] });
});

Deno.test("an unreadable URL is refused without quoting it (it may hold the password)", () => {
  for (const url of ["postgres://app:s3cret%zz@/pgsl", "postgres://app:s3cret%zz@h/pgsl"]) {
    assert.throws(
      () => splitUrlSecrets(url),
      (e: Error) => /percent-encode/.test(e.message) && !e.message.includes("s3cret"),
    );
  }
});
