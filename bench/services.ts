/**
 * The handlers the HTTP workloads call (docs/benchmarks.md). `Counter` is examples/counter.ts
 * as is; `Greeter` is examples/greeter.ts by default, or {@link quietGreeter} (the same handler
 * without its `ctx.console` line and visitor id); `Flow` is defined here. The bare-HTTP
 * baseline (bare-server.ts) answers the same paths with the same bodies (bench/answers.ts), and
 * bench/restate-services.ts is the same three services written with the Restate SDK: keep them in step.
 */
import * as onelog from "onelog";
import { greeting, type FlowInput, type FlowOutput } from "./answers.js";

/**
 * A workflow with three durable steps: each `ctx.run` is one journal entry appended to the log
 * and acknowledged before the next step starts, so a run costs an invoke, three entries and an
 * end record.
 *
 * @example
 * // POST /Flow/order-7/run  {"n": 4}   →   {"id":"order-7","total":10}
 */
export const flow = onelog.workflow({
  name: "Flow",
  handlers: {
    run: async (ctx: onelog.WorkflowContext, input: FlowInput): Promise<FlowOutput> => {
      const reserved = await ctx.run("reserve", () => input.n + 1);
      const charged = await ctx.run("charge", () => reserved * 2);
      return ctx.run("confirm", () => ({ id: ctx.key, total: charged }));
    },
  },
});

/**
 * examples/greeter.ts without `ctx.rand.uuidv4()` and the `ctx.console.log` line, so
 * `Greeter.greet` measures the engine and not the terminal: same name, path and answer.
 */
export const quietGreeter = onelog.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: onelog.Context, name: string | undefined) =>
      ctx.run("compose", () => greeting(name ?? "stranger")),
  },
});
