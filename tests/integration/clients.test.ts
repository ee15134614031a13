// Proves the typed ingress client (onelog/clients) drives every kind of handler over onelog's real ingress: calls, sends (delayed, idempotent), workflows (submit, attach, output), awakeables, results of sends, headers, serdes, retries and the mapping of error answers to HttpCallError — by starting onelog embedded on a loopback port and checking what the client returns.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { iface } from "@restatedev/restate-sdk-core";
import * as onelog from "onelog";
import * as clients from "onelog/clients";
import { eventually, silent, tmpDir } from "./http-harness.js";

// ---------------------------------------------------------------------------------------------
// The services under test. Side effects are counted from ctx.run, so replays do not count.

const runs = new Map<string, number>();
const count = (what: string) => runs.set(what, (runs.get(what) ?? 0) + 1);
const awakeables = new Map<string, string>();
const ranAt = new Map<string, number>();

const greeter = onelog.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: onelog.Context, name: string) => {
      await ctx.run("count", () => {
        count(`greet ${name}`);
      });
      return `hello ${name}`;
    },
    hello: async (_ctx: onelog.Context) => "hello nobody",
    fail: async (_ctx: onelog.Context, why: string) => {
      throw new onelog.TerminalError(why, { errorCode: 422 });
    },
    boom: async (_ctx: onelog.Context) => {
      throw new onelog.TerminalError("boom"); // code 500, retryable by its status alone
    },
    headers: async (ctx: onelog.Context) => ({
      team: ctx.request().headers.get("x-team"),
      call: ctx.request().headers.get("x-call"),
    }),
    bytes: onelog.handlers.handler(
      { input: onelog.serde.binary, output: onelog.serde.binary },
      async (_ctx: onelog.Context, b: Uint8Array) => b.map((x) => x * 2),
    ),
    stamp: async (ctx: onelog.Context, label: string) => {
      const now = await ctx.date.now();
      ranAt.set(label, now);
      return now;
    },
    slow: async (ctx: onelog.Context) => {
      await ctx.sleep(60_000);
      return "late";
    },
    /** Waits for an awakeable that the test completes from outside. */
    waitFor: async (ctx: onelog.Context, name: string) => {
      const awk = ctx.awakeable<{ paid: boolean }>();
      await ctx.run("publish", () => {
        awakeables.set(name, awk.id);
      });
      try {
        return { value: await awk.promise };
      } catch (e) {
        return { rejected: (e as Error).message, terminal: onelog.isTerminalError(e) };
      }
    },
  },
});

const counter = onelog.object({
  name: "Counter",
  handlers: {
    add: async (ctx: onelog.ObjectContext, n: number) => {
      const total = ((await ctx.get<number>("total")) ?? 0) + n;
      ctx.set("total", total);
      return total;
    },
    get: onelog.handlers.object.shared(
      async (ctx: onelog.ObjectSharedContext) => (await ctx.get<number>("total")) ?? 0,
    ),
    key: onelog.handlers.object.shared(async (ctx: onelog.ObjectSharedContext) => ctx.key),
  },
});

const signup = onelog.workflow({
  name: "Signup",
  handlers: {
    run: async (ctx: onelog.WorkflowContext, email: string) => {
      await ctx.run("count", () => {
        count(`signup ${ctx.key}`);
      });
      ctx.set("email", email);
      const secret = await ctx.promise<string>("clicked");
      if (secret === "bad") throw new onelog.TerminalError("bad secret", { errorCode: 403 });
      return { email, secret };
    },
    click: async (ctx: onelog.WorkflowSharedContext, secret: string) => {
      await ctx.promise<string>("clicked").resolve(secret);
      return "clicked";
    },
    email: onelog.handlers.workflow.shared(async (ctx: onelog.WorkflowSharedContext) =>
      ctx.get<string>("email"),
    ),
  },
});

// ---------------------------------------------------------------------------------------------

let server: onelog.OnelogServer;
let ingress: clients.Ingress;

before(async () => {
  server = await onelog.start({
    services: [greeter, counter, signup],
    dataDir: tmpDir("onelog-clients-"),
    ingressPort: 0,
    adminPort: false,
    logger: silent,
  });
  ingress = clients.connect({ url: server.ingressUrl, headers: { "x-team": "blue" } });
});

after(async () => {
  await server.stop();
});

/** The HttpCallError a promise rejects with. */
async function httpError(p: Promise<unknown>): Promise<clients.HttpCallError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof clients.HttpCallError, `expected an HttpCallError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected the request to fail");
}

describe("typed ingress client: calls", () => {
  it("calls services and objects, with and without input, keys encoded", async () => {
    assert.equal(await ingress.serviceClient(greeter).greet("Ada"), "hello Ada");
    assert.equal(await ingress.serviceClient(greeter).hello(), "hello nobody");
    assert.equal(await ingress.objectClient(counter, "c1").add(2), 2);
    assert.equal(await ingress.objectClient(counter, "c1").add(3), 5);
    assert.equal(await ingress.objectClient(counter, "c1").get(), 5);
    assert.equal(await ingress.objectClient(counter, "a b/c?d").key(), "a b/c?d");
  });

  it("a { name } stub typed by the definition is a client target", async () => {
    const Api: typeof greeter = { name: "Greeter" };
    assert.equal(await ingress.serviceClient(Api).greet("Stub"), "hello Stub");
  });

  it("connection headers and per-call headers reach the handler; per-call ones win", async () => {
    const h = ingress.serviceClient(greeter);
    assert.deepEqual(await h.headers(), { team: "blue" });
    assert.deepEqual(await h.headers(clients.rpc.opts({ headers: { "x-call": "1", "x-team": "red" } })), {
      team: "red",
      call: "1",
    });
  });

  it("uses the serdes a handler declares, and those given in opts", async () => {
    const out = await ingress.serviceClient(greeter).bytes(new Uint8Array([1, 2, 3]));
    assert.deepEqual([...out], [2, 4, 6]);
    // A stub declares nothing: the call's own serdes apply.
    const Api: typeof greeter = { name: "Greeter" };
    const viaOpts = await ingress
      .serviceClient(Api)
      .bytes(
        new Uint8Array([5]),
        clients.rpc.opts({ input: clients.serde.binary, output: clients.serde.binary }),
      );
    assert.deepEqual([...viaOpts], [10]);
  });

  it("an idempotency key runs the handler once and answers every repeat with its result", async () => {
    const opts = clients.rpc.opts<string, string>({ idempotencyKey: "idem-1" });
    const first = await ingress.serviceClient(greeter).greet("Idem", opts);
    const second = await ingress.serviceClient(greeter).greet("Idem", opts);
    assert.equal(first, "hello Idem");
    assert.equal(second, first);
    assert.equal(runs.get("greet Idem"), 1);
  });

  it("generic call and send by names; a descriptor contract (iface) as target", async () => {
    assert.equal(
      await ingress.call<string, string>({ service: "Greeter", handler: "greet", parameter: "Gen" }),
      "hello Gen",
    );
    assert.equal(
      await ingress.call<number, number>({ service: "Counter", key: "gen", handler: "add", parameter: 4 }),
      4,
    );
    const sent = await ingress.send<string>({ service: "Greeter", handler: "greet", parameter: "GenSend" });
    assert.match(sent.invocationId, /^inv_/);
    const contract = iface.service("Greeter", { greet: iface.json<string, string>() });
    assert.equal(await ingress.client(contract).greet("Iface"), "hello Iface");
    const objectContract = iface.object("Counter", { get: iface.shared.json<void, number>() });
    assert.equal(await ingress.client(objectContract, "c1").get(), 5);
  });

  it("a timeout aborts the request (the invocation goes on)", async () => {
    await assert.rejects(
      ingress.serviceClient(greeter).slow(clients.rpc.opts({ timeout: 100 })),
      (e: Error) => e.name === "TimeoutError",
    );
    await assert.rejects(
      ingress
        .serviceClient(greeter)
        .hello(clients.rpc.opts({ timeout: 100, signal: new AbortController().signal })),
      TypeError,
    );
  });

  it("a client is not a thenable: awaiting one gives the client back", async () => {
    const c = ingress.serviceClient(greeter);
    assert.equal(await Promise.resolve(c), c);
  });
});

describe("typed ingress client: sends and results", () => {
  it("a send answers with the invocation id; with an idempotency key it is attachable", async () => {
    const plain = await ingress.serviceSendClient(greeter).greet("Sent");
    assert.match(plain.invocationId, /^inv_/);
    assert.equal(plain.status, "Accepted");
    assert.equal(plain.attachable, false);
    await assert.rejects(ingress.result(plain), /idempotency key/);

    const opts = clients.rpc.sendOpts<string>({ idempotencyKey: "send-1" });
    const a = await ingress.serviceSendClient(greeter).greet("Kept", opts);
    const b = await ingress.serviceSendClient(greeter).greet("Kept", opts);
    assert.equal(a.status, "Accepted");
    assert.equal(b.status, "PreviouslyAccepted");
    assert.equal(b.invocationId, a.invocationId);
    assert.equal(a.attachable, true);
    assert.equal(await ingress.result(a), "hello Kept");
    assert.equal(await ingress.result(b), "hello Kept");
    assert.equal(runs.get("greet Kept"), 1);
  });

  it("a delayed send runs no earlier than its delay", async () => {
    const before = Date.now();
    const sent = await ingress
      .objectSendClient(counter, "delayed")
      .add(7, clients.rpc.sendOpts({ delay: { milliseconds: 400 }, idempotencyKey: "delayed-1" }));
    assert.equal(await ingress.objectClient(counter, "delayed").get(), 0);
    assert.equal(await ingress.result(sent), 7);
    assert.ok(Date.now() - before >= 400, `ran after ${Date.now() - before} ms`);

    await ingress.serviceSendClient(greeter).stamp("later", clients.SendOpts.from({ delay: 300 }));
    const sentAt = Date.now();
    const ran = await eventually("the delayed send ran", () => ranAt.get("later"));
    assert.ok(ran - sentAt >= 250, `ran ${ran - sentAt} ms after the send`);
  });
});

describe("typed ingress client: workflows", () => {
  it("submit once, output before and after, attach, result of the submission", async () => {
    const wf = ingress.workflowClient(signup, "w1");
    const submitted = await wf.workflowSubmit("ada@example.com");
    assert.equal(submitted.status, "Accepted");
    assert.equal(submitted.attachable, true);
    const again = await wf.workflowSubmit("other@example.com");
    assert.equal(again.status, "PreviouslyAccepted");
    assert.equal(again.invocationId, submitted.invocationId);

    const pending = await wf.workflowOutput();
    assert.equal(pending.ready, false);
    assert.throws(() => pending.result, /not finished/);
    await eventually("run stored the email", async () => (await wf.email()) === "ada@example.com");

    const attached = wf.workflowAttach();
    assert.equal(await wf.click("s3cret"), "clicked");
    const expected = { email: "ada@example.com", secret: "s3cret" };
    assert.deepEqual(await attached, expected);
    assert.deepEqual(await wf.workflowOutput(), { ready: true, result: expected });
    assert.deepEqual(await ingress.result(submitted), expected);
    assert.equal(runs.get("signup w1"), 1);
  });

  it("a workflow that fails: attach throws its terminal error", async () => {
    const wf = ingress.workflowClient(signup, "w-bad");
    await wf.workflowSubmit("bad@example.com");
    await wf.click("bad");
    const e = await httpError(wf.workflowAttach());
    assert.equal(e.status, 403);
    assert.equal(JSON.parse(e.responseText).message, "bad secret");
  });
});

describe("typed ingress client: awakeables", () => {
  it("resolve completes the awaiting handler with the value", async () => {
    const sent = await ingress
      .serviceSendClient(greeter)
      .waitFor("pay-1", clients.rpc.sendOpts({ idempotencyKey: "wait-1" }));
    const id = await eventually("the awakeable id is out", () => awakeables.get("pay-1"));
    await ingress.resolveAwakeable(id, { paid: true });
    assert.deepEqual(await ingress.result(sent), { value: { paid: true } });
  });

  it("reject fails it with a terminal error carrying the reason", async () => {
    const sent = await ingress
      .serviceSendClient(greeter)
      .waitFor("pay-2", clients.rpc.sendOpts({ idempotencyKey: "wait-2" }));
    const id = await eventually("the awakeable id is out", () => awakeables.get("pay-2"));
    await ingress.rejectAwakeable(id, "card declined");
    assert.deepEqual(await ingress.result(sent), { rejected: "card declined", terminal: true });
  });

  it("an unknown awakeable id is an HttpCallError", async () => {
    const e = await httpError(ingress.resolveAwakeable("nope", 1));
    assert.equal(e.status, 400);
  });
});

describe("typed ingress client: errors", () => {
  it("a terminal error is an HttpCallError with its code, body and Restate's message", async () => {
    const e = await httpError(ingress.serviceClient(greeter).fail("no way"));
    assert.equal(e.status, 422);
    const body = JSON.parse(e.responseText);
    assert.equal(body.code, 422);
    assert.equal(body.message, "no way");
    assert.equal(body.source, "invocation");
    assert.equal(e.message, `Request failed: 422\n${e.responseText}`);
  });

  it("unknown services and handlers are 404; a scope is not served by onelog", async () => {
    const Nope: onelog.ServiceDefinition<"Nope", { x: (ctx: onelog.Context) => Promise<void> }> = {
      name: "Nope",
    };
    assert.equal((await httpError(ingress.serviceClient(Nope).x())).status, 404);
    assert.equal((await httpError(ingress.scope("tenant-1").serviceClient(greeter).hello())).status, 404);
  });
});

describe("typed ingress client: retries", () => {
  /** A fetch that fails the first `failures` requests the way `fail` says, then passes them on. */
  function flaky(failures: number, fail: () => Promise<Response>) {
    const seen: string[] = [];
    const fetchFn: typeof fetch = async (input, init) => {
      seen.push(input instanceof Request ? input.url : input.toString());
      if (seen.length <= failures) return fail();
      return fetch(input, init);
    };
    return { seen, fetchFn };
  }
  const fast = { initialInterval: 1, maxInterval: 5 };

  it("retries network failures and 503s of idempotent calls, not of calls without a key", async () => {
    const net = flaky(2, () => Promise.reject(new TypeError("fetch failed")));
    const withRetries = clients.connect({ url: server.ingressUrl, retry: fast, fetch: net.fetchFn });
    const out = await withRetries
      .serviceClient(greeter)
      .greet("Retry", clients.rpc.opts({ idempotencyKey: "retry-1" }));
    assert.equal(out, "hello Retry");
    assert.equal(net.seen.length, 3);

    const busy = flaky(1, async () => new Response("busy", { status: 503, headers: { "retry-after": "0" } }));
    const once = clients.connect({ url: server.ingressUrl, retry: fast, fetch: busy.fetchFn });
    const e = await httpError(once.serviceClient(greeter).hello());
    assert.equal(e.status, 503);
    assert.equal(busy.seen.length, 1);
  });

  it("never retries a handler's terminal error (x-restate-error-source: invocation)", async () => {
    const counting = flaky(0, () => Promise.reject(new Error("unused")));
    const withRetries = clients.connect({ url: server.ingressUrl, retry: true, fetch: counting.fetchFn });
    const e = await httpError(
      withRetries.serviceClient(greeter).boom(clients.rpc.opts({ idempotencyKey: "boom-1" })),
    );
    assert.equal(e.status, 500);
    assert.equal(counting.seen.length, 1);
  });

  it("workflow submissions are retried without a key; maxAttempts bounds the attempts", async () => {
    const net = flaky(1, () => Promise.reject(new TypeError("fetch failed")));
    const withRetries = clients.connect({ url: server.ingressUrl, retry: fast, fetch: net.fetchFn });
    const submitted = await withRetries.workflowClient(signup, "w-retry").workflowSubmit("r@example.com");
    assert.match(submitted.invocationId, /^inv_/);

    const down = flaky(10, () => Promise.reject(new TypeError("fetch failed")));
    const bounded = clients.connect({
      url: server.ingressUrl,
      retry: { ...fast, maxAttempts: 3 },
      fetch: down.fetchFn,
    });
    await assert.rejects(bounded.workflowClient(signup, "w-down").workflowSubmit("x"), /fetch failed/);
    assert.equal(down.seen.length, 3);
  });
});
