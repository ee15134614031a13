/**
 * The onelog servers as users run them: compiled JavaScript, not TypeScript under tsx. Builds
 * the packages (`npm run build`: tsc into packages/*\/dist, what `onelog serve` runs from an npm
 * install) and bundles bench/onelog-server.ts and bench/cluster-node.ts with the examples they
 * serve into one .mjs file each, whose packages stay outside (`onelog` resolves to
 * packages/onelog/dist, `@onelog/nats` to packages/nats/dist). Run without tsx, the servers'
 * memory and start-up carry no TypeScript loader.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { build } from "esbuild";
import { REPO } from "./child.js";

/** The compiled scripts (absolute paths). */
export interface CompiledServers {
  /** bench/onelog-server.ts: embedded, or a server for a deployment. */
  readonly onelogServer: string;
  /** bench/cluster-node.ts: one node of the cluster systems. */
  readonly clusterNode: string;
}

/**
 * Builds the packages and the server scripts; returns their paths. The scripts go inside the
 * repository (bench/results/build, git-ignored) whatever `--out` says, so that their imports
 * resolve to the workspace's packages.
 */
export async function compileOnelogServers(): Promise<CompiledServers> {
  execFileSync("npm", ["run", "--silent", "build"], { cwd: REPO, stdio: ["ignore", "ignore", "inherit"] });
  const outdir = path.join(REPO, "bench", "results", "build");
  await build({
    entryPoints: [path.join(REPO, "bench/onelog-server.ts"), path.join(REPO, "bench/cluster-node.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    outdir,
    outExtension: { ".js": ".mjs" },
    logLevel: "warning",
  });
  return {
    onelogServer: path.join(outdir, "onelog-server.mjs"),
    clusterNode: path.join(outdir, "cluster-node.mjs"),
  };
}
