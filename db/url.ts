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
    // Without the parser's error as cause: its message quotes the whole URL, password included.
    throw new RuntimeError(
      "The database URL cannot be read: percent-encode special characters in its user name, password and parameters (@ as %40, : as %3A, / as %2F, % as %25)",
    );
  }
}

function split(url: string): SplitUrl {
  const u = new URL(url);
  let password = u.password ? decodeURIComponent(u.password) : undefined;
  u.password = "";
  const kept: string[] = [];
  const otherSecrets: string[] = [];
  // Split by hand: URLSearchParams reads "+" as a space, libpq does not.
  for (const piece of u.search.slice(1).split("&")) {
    if (piece === "") continue;
    const eq = piece.indexOf("=");
    const name = decodeURIComponent(eq < 0 ? piece : piece.slice(0, eq));
    const value = eq < 0 ? "" : decodeURIComponent(piece.slice(eq + 1));
    if (name === "password") password = value;
    else if (SECRET_PARAM.test(name)) otherSecrets.push(name);
    else kept.push(piece);
  }
  u.search = kept.length > 0 ? `?${kept.join("&")}` : "";
  return { url: u.toString(), password: password || undefined, otherSecrets };
}
