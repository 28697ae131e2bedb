/** Answers of the HTTP routes the rooms serve. */

const JSON_TYPE = { "content-type": "application/json; charset=utf-8" } as const;

/** A JSON answer with the given status and extra headers. */
export const json = (body: unknown, status = 200, headers?: HeadersInit) =>
  new Response(JSON.stringify(body), {
    status,
    // (The Response copies the headers: the constant is never changed.)
    headers: headers ? { ...JSON_TYPE, ...headers } : JSON_TYPE,
  });
