// One onelog cluster node under load, run by bench/cluster.ts as a child process: what `onelog serve <file> --cluster <BENCH_NATS_URLS> --node <BENCH_NODE> --replicas <BENCH_REPLICAS> --partitions <BENCH_PARTITIONS>` starts (packages/onelog/src/cli/serve-file.ts: connectCluster from @onelog/nats, then startServer), with Greeter, Counter and Flow in its process, its stores in BENCH_DATA_DIR and ingress and admin on free loopback ports. It reports its URLs over the IPC channel once every partition caught up with the log, and exits when the parent goes away. Run as TypeScript under tsx (`--runtime tsx`) or bundled by bench/compile.ts (`--runtime compiled`), its packages then from their dist as `onelog serve` runs them.
import { connectCluster } from "@onelog/nats";
import { counter } from "../examples/counter.js";
import { greeter } from "../examples/greeter.js";
import { startServer } from "onelog/internal";
import { reportReady } from "./ready.js";
import { flow, quietGreeter } from "./services.js";

function mustEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "" || process.send === undefined) {
    throw new Error(`bench/cluster-node.ts is started by bench/cluster.ts (needs ${name} and IPC)`);
  }
  return value;
}

const dataDir = mustEnv("BENCH_DATA_DIR");
const partitions = Number(mustEnv("BENCH_PARTITIONS"));

const server = await startServer(
  {
    services: [process.env.BENCH_GREETER === "quiet" ? quietGreeter : greeter, counter, flow],
    dataDir,
    ingressPort: 0,
    adminPort: 0,
    host: "127.0.0.1",
    partitions,
  },
  await connectCluster({
    servers: mustEnv("BENCH_NATS_URLS").split(","),
    node: mustEnv("BENCH_NODE"),
    partitions,
    replicas: Number(mustEnv("BENCH_REPLICAS")),
  }),
);

/** A clean stop needs NATS; when the bench went away its nats-servers may be gone too. */
const STOP_TIMEOUT_MS = 5_000;
reportReady(server, STOP_TIMEOUT_MS);
