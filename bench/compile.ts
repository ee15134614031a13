/**
 * The onelog server as users run it: compiled JavaScript, not TypeScript under tsx. Builds the
 * packages (`npm run build`: tsc into packages/*\/dist, what `onelog serve` runs from an npm
 * install) and bundles bench/onelog-server.ts with the examples it serves into one .mjs file
 * whose packages stay outside (`onelog` resolves to packages/onelog/dist). Run without tsx, the
 * server's memory and start-up carry no TypeScript loader.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { build } from "esbuild";
import { REPO } from "./child.js";

/**
 * Builds the packages and the server script; returns the script's path (absolute). The script
 * goes inside the repository (bench/results/build, git-ignored) whatever `--out` says, so that
 * its imports resolve to the workspace's packages.
 */
export async function compileOnelogServer(): Promise<string> {
  execFileSync("npm", ["run", "--silent", "build"], { cwd: REPO, stdio: ["ignore", "ignore", "inherit"] });
  const outfile = path.join(REPO, "bench", "results", "build", "onelog-server.mjs");
  await build({
    entryPoints: [path.join(REPO, "bench/onelog-server.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    outfile,
    logLevel: "warning",
  });
  return outfile;
}
