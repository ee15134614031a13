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
    // What the handler is told it runs: service, handler, no key; and its text form.
    target: async (ctx: restate.Context) => {
      const t = ctx.request().target;
      return { service: t.service, handler: t.handler, key: t.key ?? null, text: String(t) };
    },
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
    target: shared(async (ctx: restate.ObjectSharedContext<CartState>) => {
      const t = ctx.request().target;
      return { service: t.service, handler: t.handler, key: t.key ?? null, text: String(t) };
    }),
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

// ---- Named signals (ctx.signal, ctx.invocation(id)), in every context that has them.
/** A wait's outcome as data: its value, or the TerminalError it threw. */
async function outcomeOf<T>(p: Promise<T>) {
  try {
    return { ok: await p };
  } catch (e) {
    if (e instanceof restate.TerminalError) {
      return { err: { name: e.name, code: e.code, message: e.message, metadata: e.metadata ?? {} } };
    }
    throw e;
  }
}

export const signals = restate.service({
  name: "Signals",
  handlers: {
    // The k-th wait of a name gets the k-th signal of that name (restate-server delivers each).
    waitTwice: async (ctx: restate.Context) => {
      const a = await ctx.signal<string>("x");
      const b = await ctx.signal<string>("x");
      return [a, b];
    },
    waitBoth: async (ctx: restate.Context) => {
      const first = ctx.signal<string>("x");
      const second = ctx.signal<string>("x");
      return restate.RestatePromise.all([first, second]);
    },
    waitOnce: async (ctx: restate.Context) => outcomeOf(ctx.signal<unknown>("x")),
    waitBytes: async (ctx: restate.Context) => Array.from(await ctx.signal("x", restate.serde.binary)),
    // Sends a waiter, signals it by its id, and attaches to it for its result.
    roundtrip: async (ctx: restate.Context, kind: string) => {
      const waiter =
        kind === "twice"
          ? "waitTwice"
          : kind === "both"
            ? "waitBoth"
            : kind === "binary"
              ? "waitBytes"
              : "waitOnce";
      const id = await ctx.genericSend({ service: "Signals", method: waiter, parameter: new Uint8Array(0) })
        .invocationId;
      const target: restate.InvocationReference = ctx.invocation(id);
      const x: restate.SignalReference<string> = target.signal<string>("x");
      if (kind === "reject") x.reject("denied");
      else if (kind === "rejectTerminal") {
        x.reject(new restate.TerminalError("nope", { errorCode: 403, metadata: { why: "policy" } }));
      } else if (kind === "void") target.signal("x").resolve();
      else if (kind === "binary")
        target.signal("x", restate.serde.binary).resolve(new Uint8Array([104, 105]));
      else {
        x.resolve("one");
        x.resolve("two");
      }
      return target.attach();
    },
    // A signal sent before the handler waits for it is kept for it.
    early: async (ctx: restate.Context) => {
      ctx.invocation(ctx.request().id).signal<string>("e").resolve("kept");
      await ctx.sleep({ milliseconds: 200 });
      return ctx.signal<string>("e");
    },
    // ctx.invocation(id).cancel() and .attach(), as ctx.cancel(id) and ctx.attach(id). (The
    // error's class differs: docs/compatibility.md, so only its code and message are compared.)
    cancels: async (ctx: restate.Context) => {
      const id = await ctx.serviceSendClient(greeter).longNap().invocationId;
      ctx.invocation(id).cancel();
      const { err } = await outcomeOf(ctx.invocation(id).attach<string>());
      return { code: err?.code, message: err?.message };
    },
  },
});

// An object whose exclusive handler waits for a signal that its shared handler sends.
export const door = restate.object({
  name: "Door",
  handlers: {
    open: async (ctx: restate.ObjectContext) => {
      ctx.genericSend({
        service: "Door",
        method: "knock",
        key: ctx.key,
        parameter: ctx.request().id as string,
        inputSerde: restate.serde.json,
      });
      return `opened for ${await ctx.signal<string>("knock")}`;
    },
    knock: shared(async (ctx: restate.ObjectSharedContext, id: string) => {
      ctx.invocation(restate.InvocationIdParser.fromString(id)).signal<string>("knock").resolve(ctx.key);
    }),
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
