// The child process of the cluster node tests (nodes.test.ts, failures.test.ts): one onelog cluster node (the `onelog serve --cluster` wiring: startServer + connectCluster) on NATS_URLS as NODE, with its stores in DATA_DIR, serving a Counter object, the ledger example (Account, Transfer) and Pauser, whose step blocks the event loop; prints READY <ingress url> once every partition caught up with the log.
import * as onelog from "onelog";
import { account, transfer } from "../../examples/ledger.js";
import { connectCluster } from "../../packages/nats/src/index.js";
import { startServer } from "../../packages/onelog/src/internal/embedded/start.js";

function mustEnv(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`node-server: env ${name} is required`);
  return v;
}

const node = mustEnv("NODE");

/** A log line's fields, with errors as their name, message and stack (JSON.stringify drops them). */
function serializable(obj: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] = v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v;
  }
  return out;
}

const counter = onelog.object({
  name: "Counter",
  handlers: {
    add: async (ctx: onelog.ObjectContext, n: number) => {
      const value = ((await ctx.get<number>("value")) ?? 0) + n;
      ctx.set("value", value);
      return value;
    },
    get: onelog.handlers.object.shared(
      async (ctx: onelog.ObjectSharedContext) => (await ctx.get<number>("value")) ?? 0,
    ),
  },
});

/**
 * One step that says on stderr that it started (`STEP_BUSY <node>`), then blocks the event loop
 * for `busyMs`, as a long GC pause or a synchronous computation would: a test can SIGSTOP the
 * node while the step is under way. The step's result names the node that ran it, so the
 * invocation's output tells whose step the log kept.
 */
const pauser = onelog.service({
  name: "Pauser",
  handlers: {
    go: async (ctx: onelog.Context, busyMs: number) =>
      ctx.run("busy", () => {
        process.stderr.write(`STEP_BUSY ${node}\n`); // synchronous on a pipe (Linux)
        const until = Date.now() + busyMs;
        while (Date.now() < until) {
          // Blocks the event loop on purpose.
        }
        return { node };
      }),
  },
});

const partitions = Number(process.env.PARTITIONS ?? "6");
const server = await startServer(
  {
    services: [counter, pauser, account, transfer],
    dataDir: mustEnv("DATA_DIR"),
    ingressPort: Number(process.env.PORT ?? "0"),
    adminPort: false,
    partitions,
    compactIntervalMs: Number(process.env.COMPACT_INTERVAL_MS ?? "1000"),
    logger: {
      debug() {},
      // The tests count which node leads what, and which partitions were restored from snapshots.
      info: (o, m) => {
        if (m === "leading partition" || m?.startsWith("partition restored from its snapshot"))
          console.error(JSON.stringify({ level: "info", msg: m, ...o, t: Date.now() }));
      },
      warn: (o, m) =>
        console.error(JSON.stringify({ level: "warn", msg: m, ...serializable(o), t: Date.now() })),
      error: (o, m) =>
        console.error(JSON.stringify({ level: "error", msg: m, ...serializable(o), t: Date.now() })),
    },
  },
  await connectCluster({
    servers: mustEnv("NATS_URLS").split(","),
    node,
    partitions,
    replicas: Number(process.env.REPLICAS ?? "1"),
    leaseMs: Number(process.env.LEASE_MS ?? "2000"),
  }),
);
console.log(`READY ${server.ingressUrl}`);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => void server.stop().then(() => process.exit(0)));
}
