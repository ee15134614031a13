// Proves durable timers and awakeables work end to end (sleeps, also across a server restart; delayed sends; awakeables resolved and rejected over HTTP and from handlers; the RestatePromise combinators and orTimeout) by running real handlers in onelog.start() on a temp SQLite dataDir and driving them over HTTP.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import { eventually, get, read, silent, tmpDir, type Reply } from "./http-harness.js";

// ---------------------------------------------------------------------------------------------
// Helpers

function startOn(dataDir: string, services: onelog.AnyDefinition[]): Promise<onelog.OnelogServer> {
  return onelog.start({ services, dataDir, ingressPort: 0, adminPort: 0, logger: silent });
}

/** POSTs a JSON value (undefined: no body; `raw`: this text as is) with optional headers. */
async function post(
  url: string,
  body?: unknown,
  init: { headers?: Record<string, string>; raw?: string } = {},
): Promise<Reply> {
  const payload = init.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  return read(
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...init.headers },
      ...(payload === undefined ? {} : { body: payload }),
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// The handlers under test. Side effects are counted from ctx.run, so replays do not count.

const effects = new Map<string, number>();
const effect = (key: string) => {
  const n = (effects.get(key) ?? 0) + 1;
  effects.set(key, n);
  return n;
};
/** Awakeable ids published by handlers (from a ctx.run), by name. */
const published = new Map<string, string>();

/** Creates an awakeable and publishes its id under `name`. */
async function publishAwakeable<T>(ctx: onelog.Context, name: string): Promise<onelog.Awakeable<T>> {
  const awk = ctx.awakeable<T>();
  await ctx.run(`publish ${name}`, () => {
    published.set(name, awk.id);
  });
  return awk;
}

const marks = onelog.service({
  name: "Marks",
  handlers: {
    mark: async (ctx: onelog.Context, name: string) => {
      await ctx.run("mark", () => effect(`mark/${name}`));
    },
  },
});

const timers = onelog.service({
  name: "Timers",
  handlers: {
    nap: async (ctx: onelog.Context, req: { name: string; ms: number }) => {
      await ctx.run("before", () => effect(`before/${req.name}`));
      await ctx.sleep(req.ms);
      await ctx.run("after", () => effect(`after/${req.name}`));
      return `woke ${req.name}`;
    },
    napObject: async (ctx: onelog.Context, name: string) => {
      await ctx.sleep({ milliseconds: 20 });
      await ctx.sleep({ seconds: 0.02 });
      return `woke twice ${name}`;
    },
    sendLater: async (ctx: onelog.Context, name: string) =>
      ctx.serviceSendClient(marks).mark(name, onelog.rpc.sendOpts({ delay: { milliseconds: 300 } }))
        .invocationId,
  },
});

const awakeables = onelog.service({
  name: "Awakeables",
  handlers: {
    /** Waits for a value; a rejection is caught and reported. */
    wait: async (ctx: onelog.Context, name: string) => {
      const awk = await publishAwakeable<unknown>(ctx, name);
      try {
        return { value: await awk.promise };
      } catch (e) {
        return { rejected: (e as Error).message, terminal: onelog.isTerminalError(e) };
      }
    },
    resolve: async (ctx: onelog.Context, req: { id: string; value: unknown }) => {
      ctx.resolveAwakeable(req.id, req.value);
    },
    reject: async (ctx: onelog.Context, req: { id: string; reason: string }) => {
      ctx.rejectAwakeable(req.id, req.reason);
    },
    /** An awakeable against a sleep: whichever completes first wins. */
    race: async (ctx: onelog.Context, req: { name: string; sleepMs: number }) => {
      const awk = await publishAwakeable<string>(ctx, req.name);
      return onelog.RestatePromise.race([
        awk.promise.map((v) => `awakeable ${v}`),
        ctx.sleep(req.sleepMs).map(() => "sleep"),
      ]);
    },
    timeout: async (ctx: onelog.Context, req: { name: string; ms: number }) => {
      const awk = await publishAwakeable<string>(ctx, req.name);
      try {
        return { value: await awk.promise.orTimeout(req.ms) };
      } catch (e) {
        return {
          timeout: onelog.isTimeoutError(e),
          terminal: onelog.isTerminalError(e),
          code: (e as onelog.TerminalError).code,
        };
      }
    },
    /** all / any / allSettled over steps, sleeps and failures. */
    combinators: async (ctx: onelog.Context) => {
      const fail = (name: string) =>
        ctx.run(name, (): string => {
          throw new onelog.TerminalError(`${name} failed`, { errorCode: 422 });
        });
      const all = await onelog.RestatePromise.all([
        ctx.run("a", () => "a"),
        ctx.sleep(10).map(() => "slept"),
        ctx.run("b", () => 2),
      ]);
      let allFailed: string;
      try {
        await onelog.RestatePromise.all([ctx.run("c", () => "c"), fail("d")]);
        allFailed = "no error";
      } catch (e) {
        allFailed = (e as Error).message;
      }
      const any = await onelog.RestatePromise.any([fail("e"), ctx.run("f", () => "f")]);
      let anyFailed: string;
      try {
        await onelog.RestatePromise.any([fail("g"), fail("h")]);
        anyFailed = "no error";
      } catch (e) {
        anyFailed = `${(e as Error).name}: ${(e as AggregateError).errors.map((x: Error) => x.message).join(", ")}`;
      }
      const settled = await onelog.RestatePromise.allSettled([ctx.run("i", () => "i"), fail("j")]);
      return {
        all,
        allFailed,
        any,
        anyFailed,
        settled: settled.map((s) =>
          s.status === "fulfilled" ? { value: s.value } : { reason: (s.reason as Error).message },
        ),
      };
    },
    /** all over two awakeables: values in array order, whatever order they were resolved in. */
    allAwakeables: async (ctx: onelog.Context, name: string) => {
      const a = await publishAwakeable<string>(ctx, `${name}-a`);
      const b = await publishAwakeable<string>(ctx, `${name}-b`);
      return onelog.RestatePromise.all([a.promise, b.promise]);
    },
  },
});

// ---------------------------------------------------------------------------------------------

describe("timers and awakeables", () => {
  let server: onelog.OnelogServer;
  let base: string;

  before(async () => {
    server = await startOn(tmpDir("onelog-timers-"), [timers, marks, awakeables]);
    base = server.ingressUrl;
  });
  after(async () => {
    await server?.stop();
  });

  const awakeableId = (name: string) => eventually(`awakeable ${name} published`, () => published.get(name));
  const resolveOverHttp = async (name: string, body: string) => {
    const r = await fetch(`${base}/restate/awakeables/${await awakeableId(name)}/resolve`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    assert.equal(r.status, 202);
  };
  const attach = (id: string) => get(`${base}/restate/invocation/${id}/attach`);
  const send = async (p: string, body: unknown, key: string) => {
    const r = await post(`${base}${p}/send`, body, { headers: { "idempotency-key": key } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.invocationId as string;
  };

  describe("sleeps and delayed sends", () => {
    it("ctx.sleep: the handler resumes after the sleep; steps around it ran once", async () => {
      const r = await post(`${base}/Timers/nap`, { name: "short", ms: 100 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body, "woke short");
      assert.equal(effects.get("before/short"), 1);
      assert.equal(effects.get("after/short"), 1);
      assert.equal((await post(`${base}/Timers/napObject`, "x")).body, "woke twice x");
    });

    it("a delayed send from a handler: the callee has not run right after the send, then it has", async () => {
      const r = await post(`${base}/Timers/sendLater`, "delayed");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(effects.get("mark/delayed"), undefined);
      assert.equal((await get(`${server.adminUrl}/invocations/${r.body}`)).body.status, "scheduled");
      await eventually("the delayed send ran", () => effects.get("mark/delayed") === 1);
    });
  });

  describe("awakeables", () => {
    it("resolved over HTTP POST /restate/awakeables/{id}/resolve with a JSON body", async () => {
      const id = await send("/Awakeables/wait", "http-resolve", "http-resolve");
      await resolveOverHttp("http-resolve", JSON.stringify({ paid: true, amount: 12.5 }));
      const r = await attach(id);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { value: { paid: true, amount: 12.5 } });
    });

    it("rejected over HTTP /reject with a text body: the handler sees a TerminalError with that text", async () => {
      const id = await send("/Awakeables/wait", "http-reject", "http-reject");
      const r = await fetch(`${base}/restate/awakeables/${await awakeableId("http-reject")}/reject`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: "card declined",
      });
      assert.equal(r.status, 202);
      assert.deepEqual((await attach(id)).body, { rejected: "card declined", terminal: true });
    });

    it("Restate's short path /restate/a/{id}/resolve works too (its ingress client uses it)", async () => {
      const id = await send("/Awakeables/wait", "short-path", "short-path");
      const r = await fetch(`${base}/restate/a/${await awakeableId("short-path")}/resolve`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify("short"),
      });
      assert.equal(r.status, 202);
      assert.deepEqual((await attach(id)).body, { value: "short" });
    });

    it("resolved and rejected from another handler with ctx.resolveAwakeable / rejectAwakeable", async () => {
      const resolvedId = await send("/Awakeables/wait", "by-handler", "by-handler");
      const r1 = await post(`${base}/Awakeables/resolve`, {
        id: await awakeableId("by-handler"),
        value: ["from", "a handler"],
      });
      assert.equal(r1.status, 200, JSON.stringify(r1.body));
      assert.deepEqual((await attach(resolvedId)).body, { value: ["from", "a handler"] });

      const rejectedId = await send("/Awakeables/wait", "by-handler-reject", "by-handler-reject");
      await post(`${base}/Awakeables/reject`, { id: await awakeableId("by-handler-reject"), reason: "nope" });
      assert.deepEqual((await attach(rejectedId)).body, { rejected: "nope", terminal: true });
    });

    it("a malformed awakeable id → 400 JSON OL1014 (resolve and reject)", async () => {
      for (const what of ["resolve", "reject"]) {
        const r = await post(`${base}/restate/awakeables/not-an-awakeable/${what}`, "x");
        assert.equal(r.status, 400);
        assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
        assert.equal(r.body.onelog_code, "OL1014");
        assert.ok(typeof r.body.message === "string" && r.body.message.length > 0);
      }
    });

    it("a second resolve of the same awakeable does not change the value the handler got", async () => {
      const id = await send("/Awakeables/wait", "twice", "twice");
      await resolveOverHttp("twice", JSON.stringify("first"));
      assert.deepEqual((await attach(id)).body, { value: "first" });
      await resolveOverHttp("twice", JSON.stringify("second"));
      assert.deepEqual((await attach(id)).body, { value: "first" });
    });
  });

  describe("combinators", () => {
    it("RestatePromise.race: an awakeable resolved before a long sleep wins", async () => {
      const id = await send("/Awakeables/race", { name: "race-awk", sleepMs: 60_000 }, "race-awk");
      await resolveOverHttp("race-awk", JSON.stringify("first"));
      assert.equal((await attach(id)).body, "awakeable first");
    });

    it("RestatePromise.race: a short sleep wins against an awakeable nobody resolves", async () => {
      const r = await post(`${base}/Awakeables/race`, { name: "race-sleep", sleepMs: 50 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body, "sleep");
    });

    it(".orTimeout() on an awakeable nobody resolves → TimeoutError (a TerminalError, code 408)", async () => {
      const r = await post(`${base}/Awakeables/timeout`, { name: "timeout", ms: 100 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { timeout: true, terminal: true, code: 408 });
    });

    it(".orTimeout() on an awakeable resolved in time returns the value", async () => {
      const id = await send("/Awakeables/timeout", { name: "in-time", ms: 60_000 }, "in-time");
      await resolveOverHttp("in-time", JSON.stringify("quick"));
      assert.deepEqual((await attach(id)).body, { value: "quick" });
    });

    it("RestatePromise.all / any / allSettled over steps, a sleep and failing steps", async () => {
      const r = await post(`${base}/Awakeables/combinators`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, {
        all: ["a", "slept", 2],
        allFailed: "d failed",
        any: "f",
        anyFailed: "AggregateError: g failed, h failed",
        settled: [{ value: "i" }, { reason: "j failed" }],
      });
    });

    it("RestatePromise.all over two awakeables resolved in reverse order gives the values in array order", async () => {
      const id = await send("/Awakeables/allAwakeables", "pair", "pair");
      await resolveOverHttp("pair-b", JSON.stringify("B"));
      await resolveOverHttp("pair-a", JSON.stringify("A"));
      assert.deepEqual((await attach(id)).body, ["A", "B"]);
    });
  });
});

describe("timers: a sleep survives a restart", () => {
  it("a handler sleeping 1.5 s when the server stops completes after a restart on the same dataDir", async () => {
    const dir = tmpDir("onelog-timers-");
    const first = await startOn(dir, [timers, marks, awakeables]);
    let id: string;
    try {
      const r = await post(
        `${first.ingressUrl}/Timers/nap/send`,
        { name: "restart", ms: 1500 },
        {
          headers: { "idempotency-key": "restart-nap" },
        },
      );
      assert.equal(r.status, 202);
      id = r.body.invocationId as string;
      // The sleep is journaled (input, step, sleep) before the server stops.
      await eventually("the sleep is journaled", async () => {
        const s = await get(`${first.adminUrl}/invocations/${id}`);
        return s.status === 200 && s.body.journal_commands_size >= 3;
      });
    } finally {
      await first.stop();
    }
    assert.equal(effects.get("after/restart"), undefined);
    const second = await startOn(dir, [timers, marks, awakeables]);
    try {
      const r = await get(`${second.ingressUrl}/restate/invocation/${id}/attach`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body, "woke restart");
      assert.equal(effects.get("before/restart"), 1);
      assert.equal(effects.get("after/restart"), 1);
    } finally {
      await second.stop();
    }
  });

  it("a handler waiting on an awakeable when the server stops gets the value resolved after the restart", async () => {
    const dir = tmpDir("onelog-timers-");
    const first = await startOn(dir, [timers, marks, awakeables]);
    let id: string;
    let awakeable: string;
    try {
      const r = await post(`${first.ingressUrl}/Awakeables/wait/send`, "across-restart", {
        headers: { "idempotency-key": "across-restart" },
      });
      id = r.body.invocationId as string;
      awakeable = await eventually("the awakeable is published", () => published.get("across-restart"));
      // An awakeable is a signal id, not a command: what must be durable is the step that published it.
      await eventually("the step that published the awakeable is journaled", async () => {
        const s = await get(`${first.adminUrl}/invocations/${id}`);
        return s.status === 200 && s.body.journal.some((e: { type: string }) => e.type === "completion");
      });
    } finally {
      await first.stop();
    }
    const second = await startOn(dir, [timers, marks, awakeables]);
    try {
      const resolved = await fetch(`${second.ingressUrl}/restate/awakeables/${awakeable}/resolve`, {
        method: "POST",
        body: JSON.stringify("after restart"),
      });
      assert.equal(resolved.status, 202);
      const r = await get(`${second.ingressUrl}/restate/invocation/${id}/attach`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { value: "after restart" });
    } finally {
      await second.stop();
    }
  });
});
