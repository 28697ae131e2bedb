import assert from "node:assert/strict";
import { requestPath, router } from "./server.ts";
import { logger } from "../core/log.ts";
import type { Route } from "../runtime/context.ts";

const info = { remoteAddr: { hostname: "127.0.0.1", port: 1, transport: "tcp" as const } };

Deno.test("the router matches plain paths exactly, patterns with their params, else 404/405", async () => {
  const seen: unknown[] = [];
  const routes: Route[] = [
    {
      method: "POST",
      path: "/alerts/pine",
      handler: () => Promise.resolve(new Response("pine")),
    },
    {
      method: "GET",
      path: "/reports/:id",
      handler: (_req, i) => {
        seen.push(i.params);
        return Promise.resolve(new Response("report"));
      },
    },
  ];
  const handle = router(routes, logger("test"));
  const call = async (method: string, path: string) => {
    const res = await handle(new Request(`http://x${path}`, { method }), info as never);
    return `${res.status} ${await res.text()}`;
  };
  assert.equal(await call("POST", "/alerts/pine"), "200 pine");
  assert.equal(await call("POST", "/alerts/pine?x=1"), "200 pine");
  assert.match(await call("POST", "/alerts/pine/"), /^404 /);
  assert.match(await call("POST", "/alerts/Pine"), /^404 /);
  assert.match(await call("GET", "/alerts/pine"), /^405 /);
  assert.equal(await call("GET", "/reports/42"), "200 report");
  assert.deepEqual(seen, [{ id: "42" }]);
});

Deno.test("a request's path is the one URL gives, plain paths cut out without a parse", () => {
  const urls = [
    "http://x/alerts/pine",
    "http://127.0.0.1:8080/alerts/pine?token=a/b#c",
    "http://x/alerts/pine#frag?x",
    "http://x//alerts//pine",
    "http://x/alerts/./pine",
    "http://x/a/../alerts/pine",
    "http://x/alerts/%70ine",
    "http://x/alerts\\pine",
    "http://x/Alerts/PINE_x-1",
    "http://x",
    "http://user:pw@x:1/alerts/pine",
    "http://x/é",
  ];
  for (const url of urls) assert.equal(requestPath(url), new URL(url).pathname, url);
});
