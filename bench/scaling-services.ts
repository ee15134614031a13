/**
 * The handlers `npm run bench -- --scaling` adds to Greeter, Counter and Flow
 * (docs/benchmarks.md, "How cost grows"): an object whose state is one value of a chosen size,
 * a workflow with a chosen number of steps, and a greeter that keeps nothing once it answered.
 * Their answers are computed again by the driver (bench/scaling.ts) to check every one.
 */
import * as onelog from "onelog";
import { greeting } from "./answers.js";

/** What `Steps.run` carries: the request number and how many `ctx.run` steps to take. */
export interface StepsInput {
  readonly n: number;
  readonly steps: number;
}

/** What `Steps.run` answers for a workflow id and input, also computed by the driver. */
export function stepsOutput(id: string, input: StepsInput): { id: string; total: number } {
  return { id, total: input.n + input.steps };
}

/** The state value of a `Blob` key: a count and padding that makes the value `size` bytes or so. */
interface BlobValue {
  readonly n: number;
  readonly pad: string;
}

/**
 * A virtual object whose state is one value of about `size` bytes (the request body): `put`
 * reads it, checks its size, and writes it back with its count raised by one, so every request
 * reads and writes the whole value. Answers the new count; the answers of one key are 1, 2, …, n
 * in some order, as `Counter.add`'s.
 *
 * @example
 * // POST /Blob/k7/put  102400   →   1, then 2, …
 */
export const blob = onelog.object({
  name: "Blob",
  handlers: {
    put: async (ctx: onelog.ObjectContext, size: number): Promise<number> => {
      const value = (await ctx.get<BlobValue>("value")) ?? { n: 0, pad: "x".repeat(size) };
      if (value.pad.length !== size) {
        throw new onelog.TerminalError(
          `Blob ${ctx.key}: its value holds ${value.pad.length} bytes, not ${size}`,
        );
      }
      ctx.set("value", { n: value.n + 1, pad: value.pad });
      return value.n + 1;
    },
  },
});

/**
 * A workflow with `steps` durable steps, each one `ctx.run` whose result feeds the next: a run
 * is an invoke, two records per step (the Run command and its completion) and an end.
 *
 * @example
 * // POST /Steps/w-3/run  {"n":3,"steps":10}   →   {"id":"w-3","total":13}
 */
export const steps = onelog.workflow({
  name: "Steps",
  handlers: {
    run: async (ctx: onelog.WorkflowContext, input: StepsInput) => {
      let total = input.n;
      for (let s = 0; s < input.steps; s++) {
        const before = total;
        total = await ctx.run("step", () => before + 1);
      }
      return { id: ctx.key, total };
    },
  },
});

/**
 * Greeter's handler without its console line, with no idempotency and no journal retention:
 * a completed invocation leaves nothing in the store (docs/programming-model.md), so what the data
 * directory holds under steady load is what is in flight plus the log not yet trimmed.
 */
export const ephemeral = onelog.service({
  name: "Ephemeral",
  handlers: {
    greet: async (ctx: onelog.Context, name: string) => ctx.run("compose", () => greeting(name)),
  },
  options: { idempotencyRetention: 0, journalRetention: 0 },
});
