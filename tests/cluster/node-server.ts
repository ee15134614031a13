// The child process of nodes.test.ts: one onelog cluster node (the `onelog serve --cluster` wiring: startServer + connectCluster) on NATS_URLS as NODE, with its stores in DATA_DIR, serving a Counter object; prints READY <ingress url> once every partition caught up with the log.
import * as onelog from "onelog";
import { connectCluster } from "../../packages/nats/src/index.js";
import { startServer } from "../../packages/onelog/src/internal/embedded/start.js";

function mustEnv(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`node-server: env ${name} is required`);
  return v;
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

const partitions = Number(process.env.PARTITIONS ?? "6");
const server = await startServer(
  {
    services: [counter],
    dataDir: mustEnv("DATA_DIR"),
    ingressPort: Number(process.env.PORT ?? "0"),
    adminPort: false,
    partitions,
    compactIntervalMs: 1000,
    logger: {
      debug() {},
      // The test counts which node leads what.
      info: (o, m) => {
        if (m === "leading partition") console.error(JSON.stringify({ level: "info", msg: m, ...o }));
      },
      warn: (o, m) => console.error(JSON.stringify({ level: "warn", msg: m, ...o })),
      error: (o, m) => console.error(JSON.stringify({ level: "error", msg: m, ...o })),
    },
  },
  await connectCluster({
    servers: mustEnv("NATS_URLS").split(","),
    node: mustEnv("NODE"),
    partitions,
    leaseMs: Number(process.env.LEASE_MS ?? "2000"),
  }),
);
console.log(`READY ${server.ingressUrl}`);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => void server.stop().then(() => process.exit(0)));
}
