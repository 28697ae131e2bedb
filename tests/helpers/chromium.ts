/**
 * Headless Chromium (Debian's `chromium`) for page tests: a screenshot of a file or URL at a
 * given width, and the DOM after load. Every run gets a fresh profile and no network beyond
 * what the page asks for (the report pages ask for nothing).
 */
export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--hide-scrollbars",
  "--disable-quic",
];

async function run(args: string[]): Promise<string> {
  if (!CHROMIUM) throw new Error("Chromium is not installed (apt-get install -y chromium)");
  const profile = await Deno.makeTempDir({ prefix: "pgsl-chromium-" });
  try {
    const out = await new Deno.Command(CHROMIUM, {
      args: [...FLAGS, `--user-data-dir=${profile}`, ...args],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    if (!out.success) {
      throw new Error(`chromium failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`);
    }
    return new TextDecoder().decode(out.stdout);
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/** A PNG screenshot of `url` in a window `width` × `height`. */
export async function screenshot(url: string, file: string, width: number, height: number) {
  await run([`--window-size=${width},${height}`, `--screenshot=${file}`, url]);
  return await Deno.readFile(file);
}

/** The serialized DOM of `url` after load. */
export const dumpDom = (url: string) => run(["--dump-dom", url]);
