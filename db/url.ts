/**
 * The secrets of a PostgreSQL URL. libpq takes a password from `user:password@` or from a
 * `password` parameter (the parameter wins: libpq stores the query's values last), so both are
 * taken out wherever the URL goes: postgres.js gets the password as an option (it would send an
 * unknown parameter to the server as a setting, and fail), a client program in its environment
 * (a command line is visible to every user of the machine in `ps`).
 */
import { RuntimeError } from "../core/errors.ts";

export interface SplitUrl {
  /** The URL with no password in it. */
  url: string;
  password?: string;
  /**
   * Other parameters that carry a secret (`sslpassword`), taken out too. libpq has no
   * environment variable for them, so a caller must refuse rather than pass them on.
   */
  otherSecrets: string[];
}

/** A parameter whose value is a secret: `password` and anything named like one. */
const SECRET_PARAM = /password/i;

export function splitUrlSecrets(url: string): SplitUrl {
  try {
    return split(url);
  } catch {
    // Forms the URL parser refuses but postgres.js reads: several hosts (`h1:5432,h2:5433`), a
    // socket directory with no host (`user@/db?host=/run/postgresql`).
    let manual: SplitUrl | undefined;
    try {
      manual = splitByHand(url);
    } catch {
      // (A malformed percent escape: refused below.)
    }
    if (manual) return manual;
    // Without the parser's error as cause: its message quotes the whole URL, password included.
    throw unreadableUrl();
  }
}

/** A URL that cannot be read, said without quoting it (it may hold the password). */
export const unreadableUrl = () =>
  new RuntimeError(
    "The database URL cannot be read: percent-encode special characters in its user name, password and parameters (@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25)",
  );

function split(url: string): SplitUrl {
  const u = new URL(url);
  const fromUser = u.password ? decodeURIComponent(u.password) : undefined;
  u.password = "";
  const q = splitQuery(u.search.slice(1));
  u.search = q.kept.length > 0 ? `?${q.kept.join("&")}` : "";
  const password = q.password ?? fromUser;
  return { url: u.toString(), password: password || undefined, otherSecrets: q.otherSecrets };
}

/** The query's pieces: a password, other secrets' names, and the rest as they were. */
function splitQuery(query: string) {
  let password: string | undefined;
  const kept: string[] = [];
  const otherSecrets: string[] = [];
  // Split by hand: URLSearchParams reads "+" as a space, libpq does not.
  for (const piece of query.split("&")) {
    if (piece === "") continue;
    const eq = piece.indexOf("=");
    const name = decodeURIComponent(eq < 0 ? piece : piece.slice(0, eq));
    const value = eq < 0 ? "" : decodeURIComponent(piece.slice(eq + 1));
    if (name === "password") password = value;
    else if (SECRET_PARAM.test(name)) otherSecrets.push(name);
    else kept.push(piece);
  }
  return { password, kept, otherSecrets };
}

/** `scheme://[user[:password]@]hosts[/db][?query]` read as text; undefined if not that. */
function splitByHand(url: string): SplitUrl | undefined {
  const m = /^(postgres(?:ql)?:\/\/)([^/?]*)([^?]*)(?:\?(.*))?$/.exec(url);
  if (!m) return undefined;
  const [, scheme, authority, path, query] = m;
  const at = authority.lastIndexOf("@");
  let userinfo = at < 0 ? "" : authority.slice(0, at);
  let fromUser: string | undefined;
  const colon = userinfo.indexOf(":");
  if (colon >= 0) {
    fromUser = decodeURIComponent(userinfo.slice(colon + 1));
    userinfo = userinfo.slice(0, colon);
  }
  const hosts = at < 0 ? authority : authority.slice(at + 1);
  const q = splitQuery(query ?? "");
  const rebuilt = `${scheme}${at < 0 ? "" : `${userinfo}@`}${hosts}${path}` +
    (q.kept.length > 0 ? `?${q.kept.join("&")}` : "");
  const password = q.password ?? fromUser;
  return { url: rebuilt, password: password || undefined, otherSecrets: q.otherSecrets };
}
