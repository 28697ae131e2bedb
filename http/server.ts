/**
 * The HTTP server of `serve`: a small router over Deno.serve, GET /healthz, and the routes the
 * components bring. Every handler answers; an unexpected error becomes a logged 500.
 */
import type { Route } from "../runtime/mod.ts";
import type { Db } from "../db/mod.ts";
import type { Log } from "../core/log.ts";
import { errorMessage } from "../core/errors.ts";
import { withTimeout } from "../core/deadline.ts";
import { json } from "../runtime/mod.ts";

export function healthRoute(db: Db): Route {
  return {
    method: "GET",
    path: "/healthz",
    handler: async () => {
      try {
        await withTimeout(db.query("select 1"), 2_000);
        return json({ status: "ok", db: "up" });
      } catch {
        return json({ status: "degraded", db: "down" }, 503);
      }
    },
  };
}

export function router(routes: Route[], log: Log): Deno.ServeHandler<Deno.NetAddr> {
  // A path without parameters is compared as a string: URLPattern.exec cost more than the rest
  // of the routing on the webhook's hot path (profiled under bench/webhook.ts).
  const compiled = routes.map((r) => ({
    ...r,
    pattern: /[:*(){}?+]/.test(r.path) ? new URLPattern({ pathname: r.path }) : undefined,
  }));
  return async (req, info) => {
    const path = requestPath(req.url);
    let pathMatched = false;
    for (const r of compiled) {
      const m = r.pattern ? r.pattern.exec({ pathname: path }) : (
        r.path === path ? { pathname: { groups: {} } } : null
      );
      if (!m) continue;
      pathMatched = true;
      if (r.method !== req.method) continue;
      try {
        return await r.handler(req, {
          remoteAddr: info.remoteAddr.hostname,
          params: m.pathname.groups,
        });
      } catch (error) {
        log.error("Unhandled error on {method} {path}: {error}", {
          method: req.method,
          path,
          error: errorMessage(error),
        });
        return json({ error: "internal error" }, 500);
      }
    }
    return pathMatched
      ? json({ error: "method not allowed" }, 405)
      : json({ error: "not found" }, 404);
  };
}

/**
 * The path of an absolute request URL, as `new URL(url).pathname` gives it. A path of plain
 * characters (letters, digits, `/ _ -`) is the same text either way and is cut out of the URL
 * as it is; any other goes through URL (dot segments, escapes, backslashes), whose parse cost
 * more than the rest of the routing on the webhook's hot path.
 */
export function requestPath(url: string): string {
  const scheme = url.indexOf("://");
  const start = scheme < 0 ? -1 : url.indexOf("/", scheme + 3);
  if (start >= 0) {
    let end = url.length;
    const query = url.indexOf("?", start);
    const fragment = url.indexOf("#", start);
    if (query >= 0) end = query;
    if (fragment >= 0 && fragment < end) end = fragment;
    const path = url.slice(start, end);
    if (PLAIN_PATH.test(path)) return path;
  }
  return new URL(url).pathname;
}

const PLAIN_PATH = /^[A-Za-z0-9/_-]*$/;
