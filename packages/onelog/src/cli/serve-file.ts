// The process `onelog dev` and `onelog serve` start: onelog embedded (start()) with the services
// the file in argv[2] exports. Settings come from the environment the CLI sets:
// ONELOG_INGRESS_PORT, ONELOG_ADMIN_PORT, ONELOG_DATA_DIR, ONELOG_HOST, ONELOG_PARTITIONS.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { start } from "../internal/embedded/start.js";
import { servicesOf } from "./load-services.js";

const mode = process.env.ONELOG_CLI_MODE ?? "serve";
const file = process.argv[2];
if (file === undefined) {
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

let services;
try {
  services = servicesOf((await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>);
} catch (e) {
  console.error(`onelog ${mode}: cannot load ${file}:`, e);
  process.exit(1);
}
if (services.length === 0) {
  console.error(
    `onelog ${mode}: ${file} exports no services; export them (export const greeter = onelog.service(…)) or export default [greeter, counter]`,
  );
  process.exit(1);
}

const partitions = num("ONELOG_PARTITIONS");
const host = process.env.ONELOG_HOST;
let server: Awaited<ReturnType<typeof start>>;
try {
  server = await start({
    services,
    ingressPort: num("ONELOG_INGRESS_PORT") ?? 8080,
    adminPort: num("ONELOG_ADMIN_PORT") ?? 9070,
    dataDir: process.env.ONELOG_DATA_DIR || ".onelog",
    ...(host === undefined || host === "" ? {} : { host }),
    ...(partitions === undefined ? {} : { partitions }),
  });
} catch (e) {
  console.error(`onelog ${mode}: cannot start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}

console.log(
  `onelog ${mode}: serving ${services.map((s) => s.name).join(", ")} — ingress ${server.ingressUrl}, ` +
    `admin ${server.adminUrl ?? "off"}, data in ${server.dataDir}` +
    (mode === "dev" ? " (restarts when a file it loaded changes)" : ""),
);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void server.stop().then(() => process.exit(0));
  });
}
