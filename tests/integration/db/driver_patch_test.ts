/**
 * The postgres.js patch (vendor/postgres, porsager/postgres #1154 / #1208): a connection whose
 * socket closes while a write is still queued for it used to keep the stale write timer, so the
 * startup message of its next socket was never sent and the reconnect hung until the connect
 * timeout (and a write fired on the closed socket threw an uncaught TypeError). Reproduced
 * deterministically with the driver's `socket` option: the first socket closes right after the
 * startup message is queued, the second is a real connection.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import net from "node:net";
import postgres from "postgres";
import { serverUrl } from "../../helpers/db.ts";
import { serviceTest } from "../../helpers/fixtures.ts";

Deno.test({
  name: "postgres.js reconnects after a socket closed with a write queued (vendored patch)",
  ignore: !serverUrl(),
  ...serviceTest,
  async fn() {
    const url = new URL(serverUrl()!);
    let sockets = 0;
    // `socket` is a documented option missing from the driver's types.
    const options = {
      max: 1,
      connect_timeout: 3,
      onnotice: () => {},
      socket: () => {
        if (sockets++ === 0) {
          // Closes on a microtask: after the startup message was queued (setImmediate), before
          // it is flushed.
          const fake = Object.assign(new EventEmitter(), {
            readyState: "open",
            setKeepAlive() {},
            write() {
              return true;
            },
            end() {},
            destroy() {},
          });
          fake.on("newListener", (name: string) => {
            if (name === "data") queueMicrotask(() => fake.emit("close", false));
          });
          return fake as unknown as net.Socket;
        }
        return new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(Number(url.port || 5432), url.hostname);
          s.once("connect", () => resolve(s));
          s.once("error", reject);
        });
      },
    };
    const sql = postgres(url.toString(), options as postgres.Options<Record<string, never>>);
    try {
      const [row] = await sql`select 1 as one`;
      assert.equal(row.one, 1);
      assert.ok(sockets >= 2, `${sockets} socket(s)`);
    } finally {
      await sql.end({ timeout: 1 });
    }
  },
});
