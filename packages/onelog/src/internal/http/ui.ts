/**
 * The web UI's files, served by the admin endpoint under `/ui/` (docs/ui.md). The UI is plain
 * ES modules with no build step: `packages/onelog/ui/` (index.html, app.js, style.css) and, under
 * `/ui/vendor/`, Preact, its hooks and htm from the package's own dependencies (node_modules),
 * so nothing is fetched from a network at run time.
 *
 * The files hold no data: every invocation, state value and query goes through the admin API,
 * with the admin token when there is one. So they are served without the token, like
 * `/health`, and the UI asks for the token when the API answers 401.
 */
import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";

/** The UI's own files: `packages/onelog/ui/`, the same three levels up from src/ and dist/. */
const UI_DIR = new URL("../../../ui/", import.meta.url);

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/**
 * Only what the page itself is: scripts and styles from this origin, API calls to it, nothing
 * inline, no frames. A value shown on a page can never run as code.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Path under /ui/ → where its bytes come from (and how to fix them up for the browser). */
const FILES: Record<string, () => Buffer> = {
  "index.html": () => readFileSync(new URL("index.html", UI_DIR)),
  "app.js": () => readFileSync(new URL("app.js", UI_DIR)),
  "style.css": () => readFileSync(new URL("style.css", UI_DIR)),
  "vendor/preact.mjs": () => vendor("preact"),
  // Its one bare import points at the file beside it: no import map (an inline script) needed.
  "vendor/hooks.mjs": () =>
    Buffer.from(
      vendor("preact/hooks")
        .toString("utf8")
        .replace(/from\s*"preact"/g, 'from"./preact.mjs"'),
    ),
  "vendor/htm.mjs": () => vendor("htm"),
};

/** A dependency's ES module, without its source map comment (the map is not served). */
function vendor(specifier: string): Buffer {
  const text = readFileSync(fileURLToPath(import.meta.resolve(specifier)), "utf8");
  return Buffer.from(text.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "\n"));
}

const cache = new Map<string, Buffer>();

/**
 * Answers a GET under /ui (true), or leaves the request alone (false) for any other path.
 * `/ui` redirects to `/ui/`; an unknown file is 404. Files are read once and kept in memory.
 */
export function serveUi(path: string, method: string, res: ServerResponse): boolean {
  if (path !== "/ui" && !path.startsWith("/ui/")) return false;
  if (method !== "GET" && method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    res.end("the UI's files take GET\n");
    return true;
  }
  if (path === "/ui") {
    res.writeHead(308, { location: "/ui/" });
    res.end();
    return true;
  }
  const name = path === "/ui/" ? "index.html" : path.slice("/ui/".length);
  const load = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
  if (load === undefined) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end(`no such file: ${path}\n`);
    return true;
  }
  let bytes = cache.get(name);
  if (bytes === undefined) {
    bytes = load();
    cache.set(name, bytes);
  }
  res.writeHead(200, {
    "content-type": TYPES[name.slice(name.lastIndexOf("."))] ?? "application/octet-stream",
    "content-length": bytes.length,
    "cache-control": "no-cache",
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  });
  res.end(method === "HEAD" ? undefined : bytes);
  return true;
}
