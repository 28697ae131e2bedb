import assert from "node:assert/strict";
import {
  clientAddress,
  inexactJsonNumber,
  ipAllowed,
  jsonTextStrings,
  looseUnescape,
  nestedDeeperThan,
  readBodyLimited,
  repeatedAlertField,
  secretLiterals,
  tokenMatches,
} from "./request.ts";

Deno.test("tokens match only when equal, whatever their length", () => {
  assert.ok(tokenMatches("a".repeat(32), "a".repeat(32)));
  assert.ok(!tokenMatches("a".repeat(31) + "b", "a".repeat(32)));
  assert.ok(!tokenMatches("a", "a".repeat(32)));
  assert.ok(!tokenMatches(undefined, "a".repeat(32)));
  assert.ok(!tokenMatches("", "a".repeat(32)));
  const token = "tok-0123456789abcdef0123456789abcdef";
  assert.ok(tokenMatches(token, token));
  // The expected token repeated, cut, or one character off anywhere: no match.
  for (const given of [token + token, token.slice(1), token.slice(0, -1), `${token} `]) {
    assert.ok(!tokenMatches(given, token), given);
  }
  for (let i = 0; i < token.length; i++) {
    const off = token.slice(0, i) + String.fromCharCode(token.charCodeAt(i) ^ 1) +
      token.slice(i + 1);
    assert.ok(!tokenMatches(off, token), off);
  }
  assert.ok(!tokenMatches("ab".repeat(16), "ab"));
  assert.ok(tokenMatches("é\u{1F600}x".repeat(12), "é\u{1F600}x".repeat(12)));
  assert.ok(!tokenMatches("x", ""));
});

Deno.test("X-Forwarded-For is believed only with TRUST_PROXY, and only its last entry", () => {
  const req = new Request("http://x/", { headers: { "x-forwarded-for": "6.6.6.6, 1.2.3.4" } });
  assert.equal(clientAddress(req, "127.0.0.1", false), "127.0.0.1");
  assert.equal(clientAddress(req, "127.0.0.1", true), "1.2.3.4");
  assert.equal(clientAddress(new Request("http://x/"), "::ffff:5.6.7.8", true), "5.6.7.8");
});

Deno.test("the allowlist takes addresses and IPv4 ranges", () => {
  const list = ["52.89.214.238", "10.0.0.0/8"];
  assert.ok(ipAllowed("52.89.214.238", list));
  assert.ok(ipAllowed("10.200.1.1", list));
  assert.ok(!ipAllowed("11.0.0.1", list));
  assert.ok(!ipAllowed("::1", list));
});

Deno.test("a body over the limit is cut off without reading the rest", async () => {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(1024));
    },
  });
  const req = new Request("http://x/", { method: "POST", body });
  const r = await readBodyLimited(req, 4096);
  assert.deepEqual(r, { ok: false, tooLarge: true });
  assert.ok(pulled <= 6, `pulled ${pulled} chunks`);
  const ok = await readBodyLimited(new Request("http://x/", { method: "POST", body: "héllo" }), 6);
  assert.deepEqual(ok, { ok: true, text: "héllo" });
});

Deno.test("a declared length is checked before and after reading, whatever the header says", async () => {
  const body = "x".repeat(100);
  const lying = new Request("http://x/", {
    method: "POST",
    body,
    headers: { "content-length": "10" },
  });
  assert.deepEqual(await readBodyLimited(lying, 50), { ok: false, tooLarge: true });
  const declared = new Request("http://x/", {
    method: "POST",
    body: "x".repeat(60),
    headers: { "content-length": "60" },
  });
  assert.deepEqual(await readBodyLimited(declared, 50), { ok: false, tooLarge: true });
  const fits = new Request("http://x/", {
    method: "POST",
    body: "héllo",
    headers: { "content-length": "6" },
  });
  assert.deepEqual(await readBodyLimited(fits, 6), { ok: true, text: "héllo" });
});

Deno.test("every string literal of a JSON text is found decoded, a key's dropped duplicate too", () => {
  const text = '{"a":"\\u0072x","a":"y","k\\"q":["z\\\\"],"n":1}';
  assert.deepEqual(JSON.parse(text).a, "y");
  assert.deepEqual([...jsonTextStrings(text)], ["a", "rx", "a", "y", 'k"q', "z\\", "n"]);
  assert.equal(secretLiterals(text, "rx"), 1);
  assert.equal(secretLiterals('{"rx":"rx"}', "rx"), 2);
  assert.equal(looseUnescape('{"n":"\\u0072x\\/",}'), '{"n":"rx/",}');
});

Deno.test("nesting is counted in levels of arrays and objects, scalars not counted", () => {
  const nest = (levels: number, leaf: unknown = 1): unknown => {
    let v = leaf;
    for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { a: 1, b: v };
    return v;
  };
  for (const max of [0, 1, 2, 5, 32]) {
    for (let levels = 0; levels <= max + 2; levels++) {
      assert.equal(nestedDeeperThan(nest(levels), max), levels > max, `${levels} over ${max}`);
      // The deep branch after flat siblings, and an empty container as the leaf.
      const wide = { x: "s", y: [1, 2], z: nest(levels, []) };
      assert.equal(nestedDeeperThan(wide, max), Math.max(2, levels + 2) > max, `wide ${levels}`);
    }
  }
  assert.equal(nestedDeeperThan("text", 0), false);
  assert.equal(nestedDeeperThan(null, 0), false);
  // Deep past any recursion limit, found without going that deep.
  const deep = JSON.parse(`${"[".repeat(30_000)}${"]".repeat(30_000)}`);
  assert.equal(nestedDeeperThan(deep, 32), true);
});

Deno.test("a JSON number kept exactly passes; one with more digits than a double holds is named", () => {
  for (
    const exact of [
      '{"qty":0.001,"price":65000.5}',
      '{"price":65000.50,"qty":1.5e-7,"n":12345678901234}',
      '{"key":"bench-1234567890123456789","price":1}', // long digits in a string only
      '{"price":0.1234567890123456}', // 16 digits a double keeps as written
      '{"price":1E3}',
    ]
  ) assert.equal(inexactJsonNumber(exact), undefined, exact);
  assert.deepEqual(inexactJsonNumber('{"qty":0.1234567890123456789}'), {
    key: "qty",
    source: "0.1234567890123456789",
  });
  assert.deepEqual(inexactJsonNumber('{"b":1,"price":65000.1234567890123}'), {
    key: "price",
    source: "65000.1234567890123",
  });
  assert.deepEqual(inexactJsonNumber('{"qty":12345678901234567890}'), {
    key: "qty",
    source: "12345678901234567890",
  });
  // A field the service does not read is ignored, as the field is.
  assert.equal(inexactJsonNumber('{"bar_id":12345678901234567890,"qty":1}'), undefined);
  // A double written out in full (%.17g) is that double: 65000.12.
  assert.equal(inexactJsonNumber('{"price":65000.120000000003}'), undefined);
  // 17 digits that are no double's own: they parse to another number (1).
  assert.deepEqual(inexactJsonNumber('{"qty":0.99999999999999999}'), {
    key: "qty",
    source: "0.99999999999999999",
  });
  // A traded name inside a field the service ignores is ignored with it.
  assert.equal(inexactJsonNumber('{"meta":{"price":0.1234567890123456789},"qty":1}'), undefined);
  assert.equal(inexactJsonNumber("not json 12345678901234567"), undefined);
});

Deno.test("a field of the alert given twice is named, however the text is written", () => {
  const repeated = (text: string) => repeatedAlertField(text, JSON.parse(text));
  assert.equal(repeated('{"side":"sell","qty":"1","side":"buy"}'), "side");
  assert.equal(repeated('{"qty" : "1",\n "side": "buy", "qty"\t:\t"9"}'), "qty");
  assert.equal(repeated('{"\\u0073ide":"sell","side":"buy"}'), "side");
  assert.equal(repeated('{"note":{"a":1},"price":"1","price":"2"}'), "price");
  // Each field once, keys in nested objects, a repeated field the alert does not read, and
  // quotes and colons inside values: nothing named.
  assert.equal(
    repeated('{"side":"buy","symbol":"BINANCE:BTCUSDT","ts":"2026-01-01T00:00:00Z"}'),
    undefined,
  );
  assert.equal(repeated('{"side":"buy","meta":{"side":"sell","qty":[{"qty":1}]}}'), undefined);
  assert.equal(repeated('{"side":"buy","note":"a","note":"b"}'), undefined);
  assert.equal(repeated('{"side":"buy","note":"x\\": \\"side\\": y"}'), undefined);
});
