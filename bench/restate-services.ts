// The workloads' services written with the official Restate SDK, served by its own endpoint (HTTP/2 cleartext, the Restate service protocol) on a free port: run by bench/run.ts as a child process (with --import ./tests/compat/with-resolvers.mjs on Node 20), one fresh endpoint per system under test, which then registers it with onelog as a server or with restate-server. Greeter, Counter and Flow are examples/greeter.ts, examples/counter.ts and bench/services.ts's Flow handler for handler, step for step: keep them in step. It reports its URL over the IPC channel and exits when the parent goes away.
import * as restate from "@restatedev/restate-sdk";
import { greeting, type FlowInput, type FlowOutput } from "./answers.js";
import type { ChildReady } from "./child.js";

if (process.send === undefined) {
  throw new Error("bench/restate-services.ts is started by bench/run.ts (needs IPC)");
}
const send = process.send.bind(process);

/** examples/greeter.ts: one step, then a visitor id and a `ctx.console.log` line. */
const greeter = restate.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: restate.Context, name: string | undefined) => {
      const composed = await ctx.run("compose", () => greeting(name ?? "stranger"));
      const visitor = ctx.rand.uuidv4();
      ctx.console.log(`greeted ${name ?? "stranger"} as visitor ${visitor}`);
      return composed;
    },
  },
});

/** bench/services.ts's quietGreeter: the same step, without the visitor id and the console line. */
const quietGreeter = restate.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: restate.Context, name: string | undefined) =>
      ctx.run("compose", () => greeting(name ?? "stranger")),
  },
});

/** examples/counter.ts: one counter per key. */
const counter = restate.object({
  name: "Counter",
  handlers: {
    add: async (ctx: restate.ObjectContext, amount: number | undefined) => {
      const value = ((await ctx.get<number>("count")) ?? 0) + (amount ?? 1);
      ctx.set("count", value);
      return value;
    },
    reset: async (ctx: restate.ObjectContext) => {
      ctx.clearAll();
    },
    get: restate.handlers.object.shared(
      async (ctx: restate.ObjectSharedContext) => (await ctx.get<number>("count")) ?? 0,
    ),
  },
});

/** bench/services.ts's Flow: a workflow with three durable steps. */
const flow = restate.workflow({
  name: "Flow",
  handlers: {
    run: async (ctx: restate.WorkflowContext, input: FlowInput): Promise<FlowOutput> => {
      const reserved = await ctx.run("reserve", () => input.n + 1);
      const charged = await ctx.run("charge", () => reserved * 2);
      return ctx.run("confirm", () => ({ id: ctx.key, total: charged }));
    },
  },
});

const port = await restate
  .endpoint()
  .bind(process.env.BENCH_GREETER === "quiet" ? quietGreeter : greeter)
  .bind(counter)
  .bind(flow)
  .listen(0);

// The endpoint's listen() gives no handle to close its server: exiting is the way to stop.
const stop = (): void => process.exit(0);
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.once("disconnect", stop);

const ready: ChildReady = { type: "ready", url: `http://127.0.0.1:${port}` };
send(ready);
