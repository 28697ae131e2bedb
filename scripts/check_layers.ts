/**
 * The layer check run by CI: every production file belongs to a room, and a room may import
 * only from rooms below it in `ROOMS` (and from itself). Another room is reached through its
 * `mod.ts`, except the vocabulary rooms `core/` and `trading/`, whose files are each one
 * concept. Tests, benchmarks and scripts may import anything. Prints every violation with the
 * file and the import, and exits 1 when there is one.
 *
 *   deno run --allow-read scripts/check_layers.ts
 */

/** Lowest first: a room imports only rooms listed before it. */
export const ROOMS = [
  "core",
  "trading",
  "db",
  "exchange",
  "runtime",
  "notify",
  "signals",
  "execution",
  "risk",
  "strategy",
  "report",
  "backtest",
  "ops",
  "control",
  "http",
  "service",
  "cli",
] as const;

/** Rooms whose files may be imported one by one (shared vocabulary, no façade). */
const OPEN_ROOMS = new Set(["core", "trading"]);
const UNCHECKED = ["tests/", "bench/", "scripts/", "node_modules/", "data/", "dist/", "vendor/"];
const TOP_LEVEL = "main.ts";

export interface Violation {
  file: string;
  specifier: string;
  reason: string;
}

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\b[^"';]*?\bfrom\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

export function roomOf(path: string): string | undefined {
  if (path === TOP_LEVEL) return TOP_LEVEL;
  const first = path.split("/")[0];
  return (ROOMS as readonly string[]).includes(first) ? first : undefined;
}

const rank = (room: string) =>
  room === TOP_LEVEL ? ROOMS.length : (ROOMS as readonly string[]).indexOf(room);

function resolve(from: string, specifier: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const p of specifier.split("/")) {
    if (p === "." || p === "") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return parts.join("/");
}

/** The violations of one file's source, given its path from the repository root. */
export function checkFile(file: string, source: string): Violation[] {
  const room = roomOf(file);
  if (!room) return [{ file, specifier: "", reason: "the file is in no room of ROOMS" }];
  const out: Violation[] = [];
  for (const m of source.matchAll(IMPORT_RE)) {
    const specifier = m[1] ?? m[2] ?? m[3];
    if (!specifier.startsWith(".")) continue;
    const target = resolve(file, specifier);
    const to = roomOf(target);
    if (!to) {
      out.push({ file, specifier, reason: `imports ${target}, which is in no room` });
    } else if (to !== room) {
      if (rank(to) > rank(room)) {
        out.push({ file, specifier, reason: `${room}/ imports ${to}/, which is above it` });
      } else if (!OPEN_ROOMS.has(to) && target !== `${to}/mod.ts`) {
        out.push({ file, specifier, reason: `reaches into ${to}/ past its mod.ts` });
      }
    }
  }
  return out;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = dir === "." ? e.name : `${dir}/${e.name}`;
    if (e.isDirectory) {
      if (e.name.startsWith(".") || UNCHECKED.includes(`${path}/`)) continue;
      yield* walk(path);
    } else if (e.isFile && path.endsWith(".ts") && !path.endsWith("_test.ts")) {
      yield path;
    }
  }
}

if (import.meta.main) {
  const violations: Violation[] = [];
  let files = 0;
  for await (const file of walk(".")) {
    files++;
    violations.push(...checkFile(file, await Deno.readTextFile(file)));
  }
  for (const v of violations) {
    console.error(`${v.file}: import "${v.specifier}": ${v.reason}`);
  }
  console.log(
    `Layer check: ${files} files, ${violations.length} violation(s); rooms, lowest first: ` +
      ROOMS.join(" → "),
  );
  if (violations.length > 0) Deno.exit(1);
}
