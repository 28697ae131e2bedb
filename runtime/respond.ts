/** Answers of the HTTP routes the rooms serve. */

/** A JSON answer with the given status and extra headers. */
export const json = (body: unknown, status = 200, headers: HeadersInit = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
