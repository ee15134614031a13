// The process `onelog dev` and `onelog serve` start: onelog embedded (start()) with the services
// the file in argv[2] exports. Settings come from the environment the CLI sets:
// ONELOG_INGRESS_PORT, ONELOG_ADMIN_PORT, ONELOG_DATA_DIR, ONELOG_HOST, ONELOG_PARTITIONS, and for
// ONELOG_COMPACT_INTERVAL_MS, and for cluster mode ONELOG_CLUSTER (nats:// URLs), ONELOG_NODE,
// ONELOG_REPLICAS and ONELOG_LEASE_MS.
// With ONELOG_CHECK_ONLY=1 it only loads the file and exits 0 if it exports services (how `dev`
// tries changed code before it restarts the server).
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { hostname } from "node:os";
import { startServer, type OnelogServer } from "../internal/embedded/start.js";
import type { ClusterBackend } from "../internal/embedded/cluster.js";
import type { AnyDefinition } from "@onelog/sdk";
import { servicesOf } from "./load-services.js";

const mode = process.env.ONELOG_CLI_MODE ?? "serve";
const file = process.argv[2];
if (file === undefined && mode !== "serve") {
  console.error(`onelog ${mode}: which file? usage: onelog ${mode} <file>`);
  process.exit(2);
}

const num = (name: string): number | undefined => {
  const text = process.env[name];
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`onelog ${mode}: ${name} must be an integer, not ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
};

// `onelog serve` without a file is the server mode: no handlers in this process, deployments
// registered by URL (POST /deployments, `onelog deployments register <url>`).
let services: AnyDefinition[] = [];
try {
  if (file !== undefined) {
    services = servicesOf((await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>);
  }
} catch (e) {
  console.error(`onelog ${mode}: cannot load ${file}:`, e);
  process.exit(1);
}
if (file !== undefined && services.length === 0) {
  console.error(
    `onelog ${mode}: ${file} exports no services; export them (export const greeter = onelog.service(…)) or export default [greeter, counter]`,
  );
  process.exit(1);
}

if (process.env.ONELOG_CHECK_ONLY === "1") process.exit(0);

// Ctrl-C signals the whole process group, and the CLI forwards it too: the first signal stops
// the server (which releases the data directory's LOCK); later ones are absorbed, so a second
// Ctrl-C cannot kill the process before the release. The handlers are in place before the
// server starts and before the banner: a signal during start stops it as soon as it is up.
let stopping = false;
let stop = () => {
  stopping = true;
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stop();
  });
}
// Started by the CLI, the server has an IPC channel to it, which closes when the CLI dies (a
// SIGKILL it cannot forward): the server then stops as on SIGTERM rather than serve on, orphaned,
// holding its ports, data directory and (in a cluster) its leases.
process.on("disconnect", () => {
  if (stopping) return;
  console.error(`onelog: the onelog command that started this server is gone; stopping`);
  stop();
});

const partitions = num("ONELOG_PARTITIONS");
const compactIntervalMs = num("ONELOG_COMPACT_INTERVAL_MS");
const host = process.env.ONELOG_HOST;
let server: OnelogServer;
try {
  const cluster = await joinCluster();
  server = await startServer(
    {
      services,
      ingressPort: num("ONELOG_INGRESS_PORT") ?? 8080,
      adminPort: num("ONELOG_ADMIN_PORT") ?? 9070,
      dataDir: process.env.ONELOG_DATA_DIR || ".onelog",
      ...(host === undefined || host === "" ? {} : { host }),
      ...(partitions === undefined ? {} : { partitions }),
      ...(compactIntervalMs === undefined ? {} : { compactIntervalMs }),
    },
    cluster,
  );
} catch (e) {
  console.error(`onelog ${mode}: cannot start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}

/**
 * Cluster mode: connects through `@onelog/nats`, an optional package (loaded only here, so an
 * embedded user never needs it). The specifier is a variable so that TypeScript does not type
 * it: `@onelog/nats` depends on `onelog`, not the other way.
 */
async function joinCluster(): Promise<ClusterBackend | undefined> {
  const servers = process.env.ONELOG_CLUSTER;
  if (servers === undefined || servers === "") return undefined;
  const specifier = "@onelog/nats";
  let nats: { connectCluster(o: Record<string, unknown>): Promise<ClusterBackend> };
  try {
    nats = (await import(specifier)) as typeof nats;
  } catch (e) {
    throw new Error(`--cluster needs the package @onelog/nats (npm install @onelog/nats): ${String(e)}`);
  }
  const replicas = num("ONELOG_REPLICAS");
  const leaseMs = num("ONELOG_LEASE_MS");
  return nats.connectCluster({
    servers: servers.split(",").map((s) => s.trim()),
    node:
      process.env.ONELOG_NODE ||
      hostname()
        .replace(/[^A-Za-z0-9_-]/g, "-")
        .slice(0, 64),
    partitions: partitions ?? 4,
    ...(replicas === undefined ? {} : { replicas }),
    ...(leaseMs === undefined ? {} : { leaseMs }),
  });
}

stop = () => {
  stopping = true;
  server.stop().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(`onelog ${mode}: stopping failed: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
};
if (stopping) stop();

const serving =
  file === undefined
    ? `no services of its own (register deployments: onelog deployments register <url>)`
    : services.map((s) => s.name).join(", ");
console.log(
  `onelog ${mode}: serving ${serving} — ingress ${server.ingressUrl}, ` +
    `admin ${server.adminUrl ?? "off"}, data in ${server.dataDir}` +
    (mode === "dev" ? " (restarts when a file next to it changes)" : ""),
);
if (server.adminUrl !== undefined) console.log(`onelog ${mode}: web UI at ${server.adminUrl}/ui/`);
// Tells `onelog dev` that this server started (a later exit is a crash, not a failed start).
process.channel?.unref();
process.send?.("serving");
