// The engine of `npm run bench -- --scaling`, run by bench/scaling.ts as a child process so its memory and CPU are its own: onelog embedded on BENCH_DATA_DIR with Greeter, Counter, Flow and the scaling services (bench/scaling-services.ts), BENCH_PARTITIONS partitions (for a new data directory) and a log trim every BENCH_COMPACT_MS, ingress and admin on free ports. It reports its URLs over the IPC channel and exits when the parent goes away.
import * as onelog from "onelog";
import { counter } from "../examples/counter.js";
import { greeter } from "../examples/greeter.js";
import { flow } from "./services.js";
import { blob, ephemeral, steps } from "./scaling-services.js";
import { reportReady } from "./ready.js";

const dataDir = process.env.BENCH_DATA_DIR;
if (dataDir === undefined || dataDir === "" || process.send === undefined) {
  throw new Error("bench/scaling-server.ts is started by bench/scaling.ts (needs BENCH_DATA_DIR and IPC)");
}
const count = (name: string): number | undefined => {
  const text = process.env[name];
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`bench/scaling-server.ts: ${name} must be a positive integer, not ${text}`);
  return n;
};
const partitions = count("BENCH_PARTITIONS");
const compactIntervalMs = count("BENCH_COMPACT_MS");

const server = await onelog.start({
  services: [greeter, counter, flow, blob, steps, ephemeral],
  dataDir,
  ingressPort: 0,
  adminPort: 0,
  host: "127.0.0.1",
  ...(partitions === undefined ? {} : { partitions }),
  ...(compactIntervalMs === undefined ? {} : { compactIntervalMs }),
});

reportReady(server);
