// Proves handler-to-handler messaging works across partitions (typed and generic calls and sends, delayed sends, idempotency keys, attach, terminal errors and 404s propagated to the caller, exactly-once delivery) by running caller and callee handlers in onelog.start() (4 partitions) on a temp SQLite dataDir and calling the callers over HTTP.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import { eventually, get, post, silent, tmpDir } from "./http-harness.js";
import { query } from "./admin-harness.js";

// ---------------------------------------------------------------------------------------------
// Helpers

/** The partition an invocation id routes to (docs/architecture.md: the partition key is inside the id). */
function partitionOfId(id: string, partitions: number): number {
  return Math.floor((Number.parseInt(id.slice(4, 12), 16) * partitions) / 0x1_0000_0000);
}

// ---------------------------------------------------------------------------------------------
// Callees. Side effects are counted from ctx.run, so replays do not count.

const effects = new Map<string, number>();
const effect = (key: string) => {
  const n = (effects.get(key) ?? 0) + 1;
  effects.set(key, n);
  return n;
};

/** Ids published by handlers from a ctx.run (so once): awakeable ids, callee ids. */
const gates = new Map<string, string>();

const callee = onelog.service({
  name: "Callee",
  handlers: {
    echo: async (_ctx: onelog.Context, x: string) => `echo ${x}`,
    fail: async (_ctx: onelog.Context, message: string) => {
      throw new onelog.TerminalError(message, { errorCode: 418 });
    },
    /** Counts how often it really ran for `key`. */
    once: async (ctx: onelog.Context, key: string) => ctx.run("effect", () => effect(`once/${key}`)),
    /** Takes a while (a durable sleep), so a caller can attach to it while it runs. */
    slowEcho: async (ctx: onelog.Context, x: string) => {
      await ctx.sleep(50);
      return `slow ${x}`;
    },
    /** Waits until the test resolves the awakeable it publishes under `x`. */
    gatedEcho: async (ctx: onelog.Context, x: string) => {
      const awk = ctx.awakeable<string>();
      await ctx.run("publish", () => {
        gates.set(x, awk.id);
      });
      return `gated ${x} ${await awk.promise}`;
    },
  },
});

const tally = onelog.object({
  name: "Tally",
  handlers: {
    inc: async (ctx: onelog.ObjectContext) => {
      const v = ((await ctx.get<number>("n")) ?? 0) + 1;
      ctx.set("n", v);
      return v;
    },
    /** Records that it ran (from a step) and what it got. */
    mark: async (ctx: onelog.ObjectContext, v: string) => {
      await ctx.run("effect", () => effect(`mark/${ctx.key}`));
      ctx.set("mark", v);
    },
    get: onelog.handlers.object.shared(async (ctx: onelog.ObjectSharedContext) => ({
      n: (await ctx.get<number>("n")) ?? 0,
      mark: await ctx.get<string>("mark"),
    })),
  },
});

const flow = onelog.workflow({
  name: "Flow",
  handlers: {
    run: async (ctx: onelog.WorkflowContext, x: string) => {
      await ctx.run("effect", () => effect(`flow/${ctx.key}`));
      ctx.set("seen", x);
      return `flow ${ctx.key} ${x}`;
    },
    seen: async (ctx: onelog.WorkflowSharedContext) => ctx.get<string>("seen"),
  },
});

// ---------------------------------------------------------------------------------------------
// Callers.

const caller = onelog.service({
  name: "Caller",
  handlers: {
    callService: async (ctx: onelog.Context, x: string) => ctx.serviceClient(callee).echo(x),
    callObject: async (ctx: onelog.Context, key: string) => {
      const a = await ctx.objectClient(tally, key).inc();
      const b = await ctx.objectClient(tally, key).inc();
      return [a, b, await ctx.objectClient(tally, key).get()];
    },
    callWorkflow: async (ctx: onelog.Context, id: string) => {
      const first = await ctx.workflowClient(flow, id).run("in");
      const second = await ctx.workflowClient(flow, id).run("again");
      const seen = await ctx.workflowClient(flow, id).seen();
      return { first, second, seen };
    },
    /** Sends with a delay; returns the callee's invocation id once the send is durable. */
    sendLater: async (ctx: onelog.Context, key: string) =>
      ctx.objectSendClient(tally, key).mark(`late ${key}`, onelog.rpc.sendOpts({ delay: 300 })).invocationId,
    /** The same, with the delay given to the send client as a default. */
    sendLaterDefault: async (ctx: onelog.Context, key: string) =>
      ctx
        .objectSendClient(tally, key, onelog.rpc.sendOpts({ delay: { milliseconds: 300 } }))
        .mark(`late ${key}`).invocationId,
    sendNow: async (ctx: onelog.Context, key: string) => {
      ctx.serviceSendClient(callee).echo("ignored");
      ctx.workflowSendClient(flow, key).run("sent");
      return ctx.objectSendClient(tally, key).mark(`now ${key}`).invocationId;
    },
    twiceWithKey: async (ctx: onelog.Context, key: string) => {
      const a = await ctx.serviceClient(callee).once(key, onelog.rpc.opts({ idempotencyKey: key }));
      const b = await ctx.serviceClient(callee).once(key, onelog.rpc.opts({ idempotencyKey: key }));
      return [a, b];
    },
    twiceWithoutKey: async (ctx: onelog.Context, key: string) => {
      const a = await ctx.serviceClient(callee).once(key);
      const b = await ctx.serviceClient(callee).once(key);
      return [a, b];
    },
    generic: async (ctx: onelog.Context, key: string) => {
      const echoed = await ctx.genericCall({
        service: "Callee",
        method: "echo",
        parameter: "generic",
        inputSerde: onelog.serde.json,
        outputSerde: onelog.serde.json,
      });
      const counted = await ctx.genericCall<undefined, number>({
        service: "Tally",
        method: "inc",
        key,
        parameter: undefined,
        inputSerde: onelog.serde.json,
        outputSerde: onelog.serde.json,
      });
      const sent = await ctx.genericSend({
        service: "Tally",
        method: "mark",
        key,
        parameter: "generic send",
        inputSerde: onelog.serde.json,
      }).invocationId;
      // Bytes in and out when no serde is given.
      const raw = await ctx.genericCall({
        service: "Callee",
        method: "echo",
        parameter: new TextEncoder().encode(JSON.stringify("bytes")),
      });
      return { echoed, counted, sent, raw: new TextDecoder().decode(raw) };
    },
    /** Sends (with an idempotency key, so the result is retained), then attaches. */
    sendAndAttach: async (ctx: onelog.Context, key: string) => {
      const id = await ctx
        .serviceSendClient(callee)
        .slowEcho(key, onelog.rpc.sendOpts({ idempotencyKey: `attach-${key}` })).invocationId;
      return { id, result: await ctx.attach<string>(id) };
    },
    /** Sends without a key to a callee that waits for the test, then attaches. */
    sendAndAttachRunning: async (ctx: onelog.Context, x: string) => {
      const id = await ctx.serviceSendClient(callee).gatedEcho(x).invocationId;
      await ctx.run("publish", () => {
        gates.set(`callee of ${x}`, id);
      });
      return ctx.attach<string>(id);
    },
    catchTerminal: async (ctx: onelog.Context, message: string) => {
      try {
        await ctx.serviceClient(callee).fail(message);
        return "no error";
      } catch (e) {
        return {
          terminal: onelog.isTerminalError(e),
          code: (e as onelog.TerminalError).code,
          message: (e as Error).message,
        };
      }
    },
    rethrow: async (ctx: onelog.Context, message: string) => ctx.serviceClient(callee).fail(message),
    /** 50 increments of one key, all in flight at once. */
    incMany: async (ctx: onelog.Context, req: { key: string; n: number }) => {
      const all = await onelog.RestatePromise.all(
        Array.from({ length: req.n }, () => ctx.objectClient(tally, req.key).inc()),
      );
      return { results: all, final: await ctx.objectClient(tally, req.key).get() };
    },
    /** One increment on each of many keys, in flight at once; returns the callees' ids. */
    fanOut: async (ctx: onelog.Context, keys: string[]) => {
      const calls = keys.map((k) => ctx.objectClient(tally, k).inc());
      const results = await onelog.RestatePromise.all(calls);
      const ids = await Promise.all(calls.map((c) => c.invocationId));
      return { results, ids };
    },
  },
});

// ---------------------------------------------------------------------------------------------

describe("messaging between handlers", () => {
  let server: onelog.OnelogServer;
  let base: string;

  before(async () => {
    server = await onelog.start({
      services: [callee, tally, flow, caller],
      dataDir: tmpDir("onelog-messaging-"),
      ingressPort: 0,
      adminPort: 0,
      logger: silent,
      partitions: 4,
    });
    base = server.ingressUrl;
    assert.equal(server.engine.partitions, 4);
  });
  after(async () => {
    await server?.stop();
  });

  describe("calls", () => {
    it("serviceClient: the caller awaits the callee's result", async () => {
      const r = await post(`${base}/Caller/callService`, "hi");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body, "echo hi");
    });

    it("objectClient: exclusive and shared handlers of a key, results awaited in order", async () => {
      const r = await post(`${base}/Caller/callObject`, "obj-1");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, [1, 2, { n: 2, mark: null }]);
    });

    it("workflowClient: run once per id (a second call gets the first result), and a shared handler", async () => {
      const r = await post(`${base}/Caller/callWorkflow`, "wf-1");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { first: "flow wf-1 in", second: "flow wf-1 in", seen: "in" });
      assert.equal(effects.get("flow/wf-1"), 1);
    });

    it("calls to 16 keys that live in different partitions all complete", async () => {
      const keys = Array.from({ length: 16 }, (_, i) => `fan-${i}`);
      const r = await post(`${base}/Caller/fanOut`, keys);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(
        r.body.results,
        keys.map(() => 1),
      );
      const partitions = new Set((r.body.ids as string[]).map((id) => partitionOfId(id, 4)));
      assert.ok(partitions.size > 1, `the keys should span partitions, got ${[...partitions].join(",")}`);
      for (const k of keys)
        assert.deepEqual((await post(`${base}/Tally/${k}/get`)).body, { n: 1, mark: null });
    });

    it("exactly once: 50 concurrent calls from a service increment a counter object to exactly 50", async () => {
      const r = await post(`${base}/Caller/incMany`, { key: "exact", n: 50 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(
        [...(r.body.results as number[])].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.deepEqual(r.body.final, { n: 50, mark: null });
      assert.deepEqual((await post(`${base}/Tally/exact/get`)).body, { n: 50, mark: null });
    });

    it("rpc.opts({ idempotencyKey }): two calls with the same key run the callee once and both get its result", async () => {
      const r = await post(`${base}/Caller/twiceWithKey`, "idem-1");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, [1, 1]);
      assert.equal(effects.get("once/idem-1"), 1);
      // The same key from another caller invocation: still the first result.
      assert.deepEqual((await post(`${base}/Caller/twiceWithKey`, "idem-1")).body, [1, 1]);
      assert.equal(effects.get("once/idem-1"), 1);
      // Without a key, each call runs.
      assert.deepEqual((await post(`${base}/Caller/twiceWithoutKey`, "plain-1")).body, [1, 2]);
    });

    it("genericCall / genericSend with serde.json (and bytes without a serde)", async () => {
      const r = await post(`${base}/Caller/generic`, "gen-1");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.echoed, "echo generic");
      assert.equal(r.body.counted, 1);
      assert.equal(r.body.raw, JSON.stringify("echo bytes"));
      assert.match(r.body.sent, /^inv_[0-9a-f]{40}$/);
      await eventually(
        "the generic send ran",
        async () => (await post(`${base}/Tally/gen-1/get`)).body.mark === "generic send",
      );
    });
  });

  describe("sends", () => {
    it("a send runs the callee after the caller returned; workflow and service sends too", async () => {
      const r = await post(`${base}/Caller/sendNow`, "now-1");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.match(r.body, /^inv_[0-9a-f]{40}$/);
      await eventually(
        "the send ran",
        async () => (await post(`${base}/Tally/now-1/get`)).body.mark === "now now-1",
      );
      assert.equal((await get(`${base}/restate/workflow/Flow/now-1/attach`)).body, "flow now-1 sent");
    });

    for (const [handler, how] of [
      ["sendLater", "per call"],
      ["sendLaterDefault", "as the send client's default"],
    ] as const) {
      it(`rpc.sendOpts({ delay: 300 }) ${how}: the callee has not run right after the send, then it has`, async () => {
        const key = `later-${handler}`;
        const r = await post(`${base}/Caller/${handler}`, key);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const id = r.body as string;
        assert.equal(effects.get(`mark/${key}`), undefined, "the delayed callee ran too early");
        const status = await get(`${server.adminUrl}/invocations/${id}`);
        assert.equal(status.status, 200);
        assert.equal(status.body.status, "scheduled");
        await eventually("the delayed callee ran", () => effects.get(`mark/${key}`) === 1);
        await eventually(
          "its state is visible",
          async () => (await post(`${base}/Tally/${key}/get`)).body.mark === `late ${key}`,
        );
      });
    }

    it("ctx.attach(invocationId) to a sent invocation returns its result", async () => {
      const r = await post(`${base}/Caller/sendAndAttach`, "att-1");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.result, "slow att-1");
      // The attached invocation is the one the send started (retained under its idempotency key).
      assert.equal((await get(`${base}/restate/invocation/${r.body.id}/output`)).body, "slow att-1");
      // Attaching again from a new caller invocation gets the retained result.
      assert.deepEqual((await post(`${base}/Caller/sendAndAttach`, "att-1")).body, r.body);
    });

    it("ctx.attach to a sent invocation without a key that is still running returns its result", async () => {
      const pending = post(`${base}/Caller/sendAndAttachRunning`, "att-2");
      const calleeId = await eventually("the caller published the callee's id", () =>
        gates.get("callee of att-2"),
      );
      // The attach is registered with the running callee before the callee is let go.
      await eventually("the caller attached", async () => {
        const s = await get(`${server.adminUrl}/invocations/${calleeId}`);
        return s.status === 200 && s.body.callers.length > 0;
      });
      const awk = await eventually("the callee published its awakeable", () => gates.get("att-2"));
      const resolved = await fetch(`${base}/restate/awakeables/${awk}/resolve`, {
        method: "POST",
        body: JSON.stringify("go"),
      });
      assert.equal(resolved.status, 202);
      const r = await pending;
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body, "gated att-2 go");
    });
  });

  describe("errors", () => {
    it("a callee's TerminalError reaches the caller with its message and code; the caller can catch it", async () => {
      const r = await post(`${base}/Caller/catchTerminal`, "teapot");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { terminal: true, code: 418, message: "teapot" });
    });

    it("uncaught in the caller, the callee's TerminalError becomes the caller's HTTP answer", async () => {
      const r = await post(`${base}/Caller/rethrow`, "still a teapot");
      assert.equal(r.status, 418);
      assert.deepEqual(r.body, { code: 418, message: "still a teapot", source: "invocation" });
    });
  });
});

describe("messaging: exactly once across a restart", () => {
  it("50 calls in flight when the server stops: after a restart the counter ends at exactly 50", async () => {
    const dir = tmpDir("onelog-messaging-");
    const services = [callee, tally, flow, caller];
    const opts = { dataDir: dir, ingressPort: 0, adminPort: 0, logger: silent, partitions: 4 };
    const first = await onelog.start({ services, ...opts });
    let id: string;
    try {
      const sent = await post(
        `${first.ingressUrl}/Caller/incMany/send`,
        { key: "restart", n: 50 },
        {
          "idempotency-key": "inc-many-restart",
        },
      );
      assert.equal(sent.status, 202);
      id = sent.body.invocationId as string;
      await eventually(
        "some increments applied",
        async () => (await post(`${first.ingressUrl}/Tally/restart/get`)).body.n >= 5,
      );
    } finally {
      await first.stop();
    }
    const second = await onelog.start({ services, ...opts });
    try {
      const r = await get(`${second.ingressUrl}/restate/invocation/${id}/attach`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(
        [...(r.body.results as number[])].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.deepEqual(r.body.final, { n: 50, mark: null });
      assert.deepEqual((await post(`${second.ingressUrl}/Tally/restart/get`)).body, { n: 50, mark: null });
    } finally {
      await second.stop();
    }
  });
});

// A service registered only in the second run, and its caller, typed through a `{ name }` stub.
const later = onelog.service({
  name: "Later",
  handlers: { greet: async (_ctx: onelog.Context, name: string) => `later says hi to ${name}` },
});
const LaterApi: typeof later = { name: "Later" };
const asker = onelog.service({
  name: "Asker",
  options: { retryPolicy: { initialInterval: 10, maxInterval: 50, maxAttempts: null } },
  handlers: {
    ask: async (ctx: onelog.Context, name: string) => ctx.serviceClient(LaterApi).greet(name),
    tell: async (ctx: onelog.Context, name: string) => {
      ctx.serviceSendClient(LaterApi).greet(name);
      return "sent";
    },
  },
});

describe("messaging: a call or send to a service that is not registered", () => {
  it("keeps the caller retrying with the reason in its status (as Restate), and it goes on once the service is registered", async () => {
    const dir = tmpDir("onelog-unregistered-");
    const opts = { dataDir: dir, ingressPort: 0, adminPort: 0, logger: silent };
    const first = await onelog.start({ services: [asker], ...opts });
    let ids: string[];
    try {
      ids = [
        (await post(`${first.ingressUrl}/Asker/ask/send`, "ada", { "idempotency-key": "ask-ada" })).body
          .invocationId as string,
        (await post(`${first.ingressUrl}/Asker/tell/send`, "bob", { "idempotency-key": "tell-bob" })).body
          .invocationId as string,
      ];
      for (const id of ids) {
        const row = await eventually(`${id} retries with the reason visible`, async () => {
          const rows = await query(
            first.adminUrl!,
            `SELECT status, last_failure, retry_count FROM sys_invocation WHERE id = '${id}'`,
          );
          const r = rows[0];
          return r !== undefined && Number(r.retry_count) >= 2 && r.last_failure !== null ? r : undefined;
        });
        assert.match(String(row.last_failure), /Later\/greet is not registered/);
        assert.notEqual(row.status, "completed");
      }
      // Nothing was journaled for the callee: no invocation of Later exists.
      const callees = await query(
        first.adminUrl!,
        "SELECT id FROM sys_invocation WHERE target LIKE 'Later/%'",
      );
      assert.deepEqual(callees, []);
    } finally {
      await first.stop();
    }
    const second = await onelog.start({ services: [asker, later], ...opts });
    try {
      const asked = await get(`${second.ingressUrl}/restate/invocation/${ids[0]}/attach`);
      assert.equal(asked.status, 200, JSON.stringify(asked.body));
      assert.equal(asked.body, "later says hi to ada");
      const told = await get(`${second.ingressUrl}/restate/invocation/${ids[1]}/attach`);
      assert.equal(told.body, "sent");
    } finally {
      await second.stop();
    }
  });
});
