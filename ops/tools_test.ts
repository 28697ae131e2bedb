import assert from "node:assert/strict";
import { toolConnection } from "./tools.ts";

Deno.test("a tool's URL holds no password: user:password@ and ?password= go to PGPASSWORD", () => {
  const a = toolConnection("postgres://app:s3cret@h/pgsl");
  assert.deepEqual(a, { url: "postgres://app@h/pgsl", env: { PGPASSWORD: "s3cret" } });
  const b = toolConnection("postgres://app@h/pgsl?sslmode=require&password=s3cret");
  assert.deepEqual(b, {
    url: "postgres://app@h/pgsl?sslmode=require",
    env: { PGPASSWORD: "s3cret" },
  });
  assert.deepEqual(toolConnection("postgres://app@h/pgsl"), {
    url: "postgres://app@h/pgsl",
    env: {},
  });
});

Deno.test("a URL with sslpassword is refused for the tools, naming it but not its value", () => {
  assert.throws(
    () => toolConnection("postgres://app@h/pgsl?sslpassword=keypass"),
    (e: Error) => /sslpassword.*command line/.test(e.message) && !e.message.includes("keypass"),
  );
});
