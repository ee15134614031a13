// A program in the Restate TypeScript SDK's idioms. It is compiled twice (tests/compat/types.test.ts):
// against @restatedev/restate-sdk, and with that import mapped to onelog. Nothing else changes.
import * as restate from "@restatedev/restate-sdk";
import { z } from "zod";

// ---- A plain service: handler options, serdes, steps with retry options, side effects.
export const greeter = restate.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: restate.Context, name: string) => {
      const text = await ctx.run("compose", () => `hello ${name}`);
      return text;
    },
    hello: async (_ctx: restate.Context) => "hello nobody",
    // A durable sleep: the attempt suspends (or waits) and the timer resumes it.
    nap: async (ctx: restate.Context) => {
      const before = await ctx.run("before", () => "awake");
      await ctx.sleep({ milliseconds: 300 });
      return `${before}, slept, awake again`;
    },
    longNap: async (ctx: restate.Context) => {
      await ctx.sleep({ hours: 1 });
      return "never";
    },
    fail: async (_ctx: restate.Context) => {
      throw new restate.TerminalError("nope", { errorCode: 422 });
    },
    stepFails: async (ctx: restate.Context) => {
      try {
        await ctx.run(
          "step",
          () => {
            throw new Error("step broke");
          },
          { maxRetryAttempts: 2, initialRetryInterval: { milliseconds: 10 } },
        );
        return "no error";
      } catch (e) {
        if (e instanceof restate.TerminalError) return { message: e.message, code: e.code };
        throw e;
      }
    },
    order: restate.handlers.handler(
      {
        input: restate.serde.schema(z.object({ id: z.string(), qty: z.number() })),
        retryPolicy: { maxAttempts: 3 },
      },
      async (_ctx: restate.Context, order: { id: string; qty: number }) => order.qty * 2,
    ),
    bytes: restate.handlers.handler(
      { input: restate.serde.binary, output: restate.serde.binary },
      async (_ctx: restate.Context, b: Uint8Array) => b,
    ),
    nothing: restate.handlers.handler({ output: restate.serde.empty }, async (_ctx: restate.Context) => {}),
  },
});

// ---- A virtual object with typed state; a shared handler through a namespace import.
import shared = restate.handlers.object.shared;

type CartState = { items: string[]; total: number };

export const cart = restate.object({
  name: "Cart",
  handlers: {
    add: async (ctx: restate.ObjectContext<CartState>, item: string) => {
      const items = (await ctx.get("items")) ?? [];
      items.push(item);
      ctx.set("items", items);
      ctx.set("total", items.length);
      return items.length;
    },
    clear: async (ctx: restate.ObjectContext<CartState>) => {
      ctx.clear("items");
      ctx.clear("total");
    },
    count: shared(async (ctx: restate.ObjectSharedContext<CartState>) => (await ctx.get("total")) ?? 0),
    untyped: async (ctx: restate.ObjectContext) => {
      const n = (await ctx.get<number>("n")) ?? 0;
      ctx.set("n", n + 1);
      return [n + 1, (await ctx.stateKeys()).length];
    },
  },
});

// ---- A workflow: run once, shared handlers, durable promises.
export const signup = restate.workflow({
  name: "Signup",
  handlers: {
    run: async (ctx: restate.WorkflowContext, email: string) => {
      ctx.set("email", email);
      const secret = await ctx.promise<string>("clicked");
      return `${email} confirmed ${secret}`;
    },
    click: async (ctx: restate.WorkflowSharedContext, secret: string) => {
      await ctx.promise<string>("clicked").resolve(secret);
    },
    email: restate.handlers.workflow.shared(async (ctx: restate.WorkflowSharedContext) =>
      ctx.get<string>("email"),
    ),
  },
});

// A stub for a service defined elsewhere: only its name, typed by the real definition.
const GreeterApi: typeof greeter = { name: "Greeter" };

// ---- Clients, send clients, every opts placement, generic calls, awakeables, combinators.
export const caller = restate.service({
  name: "Caller",
  handlers: {
    calls: async (ctx: restate.Context, name: string) => {
      const a = await ctx.serviceClient(GreeterApi).greet(name);
      const b = await ctx
        .serviceClient(greeter)
        .greet(name, restate.rpc.opts({ idempotencyKey: `k-${name}` }));
      const c = await ctx.serviceClient(greeter).hello();
      const d = await ctx.serviceClient(greeter).hello(restate.rpc.opts({ headers: { x: "1" } }));
      const n = await ctx.objectClient(cart, name).add("apple");
      const count = await ctx.objectClient(cart, name).count();
      return { a, b, c, d, n, count };
    },
    sends: async (ctx: restate.Context, name: string) => {
      ctx.objectSendClient(cart, name).add("pear", restate.rpc.sendOpts({ delay: { milliseconds: 200 } }));
      ctx.objectSendClient(cart, name).clear(restate.rpc.sendOpts({ delay: 500 }));
      const handle = ctx.serviceSendClient(greeter).greet(name);
      const id: string = await handle.invocationId;
      return id.startsWith("inv_");
    },
    generic: async (ctx: restate.Context, name: string) => {
      const out = await ctx.genericCall({
        service: "Greeter",
        method: "greet",
        parameter: name,
        inputSerde: restate.serde.json,
        outputSerde: restate.serde.json,
      });
      ctx.genericSend({ service: "Greeter", method: "hello", parameter: new Uint8Array(0) });
      return out as string;
    },
    combine: async (ctx: restate.Context) => {
      const a = ctx.run("a", () => 1);
      const b = ctx.run("b", () => 2);
      const [x, y] = await restate.RestatePromise.all([a, b]);
      const first = await restate.RestatePromise.race([
        ctx.sleep({ seconds: 30 }).map(() => "slow"),
        ctx.run("fast", () => "fast"),
      ]);
      const any = await restate.RestatePromise.any([ctx.run("c", () => 3)]);
      const settled = await restate.RestatePromise.allSettled([ctx.run("d", () => 4)]);
      // RestatePromise and InvocationPromise are Promises (issue 11 item 11).
      const asPromise: Promise<number> = ctx.run("e", () => 5);
      const called: Promise<string> = ctx.serviceClient(greeter).hello();
      await Promise.all([asPromise, called]);
      const journaled = restate.isRestatePromise(asPromise) && !restate.isRestatePromise(Promise.resolve(1));
      const awk = ctx.awakeable<string>();
      ctx.resolveAwakeable(awk.id, "woken");
      const woken = await awk.promise.orTimeout({ seconds: 30 });
      const r: number = ctx.rand.random();
      const uuid: string = ctx.rand.uuidv4();
      const now: number = await ctx.date.now();
      return {
        sum: x + y,
        first,
        any,
        settled: settled.length,
        woken,
        r: r < 1,
        uuid: uuid.length,
        now: now > 0,
        journaled,
      };
    },
    // Cancel another invocation from a handler, then attach to it: it ends with CancelledError.
    cancels: async (ctx: restate.Context) => {
      const id = await ctx.serviceSendClient(greeter).longNap().invocationId;
      ctx.cancel(id);
      try {
        return await ctx.attach(id);
      } catch (e) {
        if (e instanceof restate.TerminalError) return { code: e.code, message: e.message };
        throw e;
      }
    },
    errors: async (_ctx: restate.Context) => {
      const t: restate.TerminalError = new restate.TimeoutError();
      const c: restate.TerminalError = new restate.CancelledError();
      const r = new restate.RetryableError("later", { retryAfter: { seconds: 1 } });
      return [t.code, c.code, r.message];
    },
  },
});

// Types programs name.
export type Names = [
  restate.Duration,
  restate.Rand,
  restate.InvocationId,
  restate.RunOptions<number>,
  restate.Serde<string>,
  restate.Opts<string, number>,
  restate.SendOpts<string>,
  restate.RetryPolicy,
  restate.TypedState,
  restate.UntypedState,
  restate.Client<restate.Service<typeof greeter>>,
  restate.SendClient<restate.VirtualObject<typeof cart>>,
  restate.WorkflowDefinition<"Signup", restate.Workflow<typeof signup>>,
  restate.ServiceDefinition<"Greeter", restate.Service<typeof greeter>>,
  restate.VirtualObjectDefinition<"Cart", restate.VirtualObject<typeof cart>>,
];
export const parsed: restate.InvocationId = restate.InvocationIdParser.fromString("inv_1abc");
