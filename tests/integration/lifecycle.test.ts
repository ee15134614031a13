// Proves the invocation lifecycle behaves as documented (cancel with compensation and propagation, kill, purge, pause/resume, retry policies and their precedence, ctx.run retries, suspension without re-running steps) by running real handlers in onelog.start() on temp SQLite dataDirs, driving them over HTTP, and operating on them through the admin API and server.engine.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import * as onelog from "onelog";
import { eventually, get, post, read, silent, tmpDir } from "./http-harness.js";

// ---------------------------------------------------------------------------------------------
// Helpers

// ---------------------------------------------------------------------------------------------
// The handlers under test. Side effects are counted from ctx.run, so replays do not count;
// `attempts` counts handler bodies that throw before any await (one per attempt).

const effects = new Map<string, number>();
const effect = (key: string) => {
  const n = (effects.get(key) ?? 0) + 1;
  effects.set(key, n);
  return n;
};
const attempts = new Map<string, number>();
const attempt = (key: string) => attempts.set(key, (attempts.get(key) ?? 0) + 1);
const healed = new Set<string>();
/** Ids published by handlers (from a ctx.run), by name: awakeable ids, invocation ids. */
const published = new Map<string, string>();

const saga = onelog.service({
  name: "Saga",
  handlers: {
    /** Reserves, waits for a confirmation; on cancellation runs a compensation step. */
    book: async (ctx: onelog.Context, name: string) => {
      await ctx.run("reserve", () => effect(`reserve/${name}`));
      const awk = ctx.awakeable<string>();
      await ctx.run("publish", () => {
        published.set(name, awk.id);
        published.set(`id of ${name}`, ctx.request().id);
      });
      try {
        const answer = await awk.promise;
        await ctx.run("confirm", () => effect(`confirm/${name}`));
        return `booked ${name}: ${answer}`;
      } catch (e) {
        if (onelog.isCancelledError(e)) await ctx.run("compensate", () => effect(`compensate/${name}`));
        throw e;
      }
    },
    cancelOther: async (ctx: onelog.Context, invocationId: string) => {
      ctx.cancel(invocationId);
      return "asked";
    },
    quick: async (ctx: onelog.Context, name: string) => ctx.run("effect", () => effect(`quick/${name}`)),
    /** A step with its own retry options: retried in place, then a TerminalError the handler catches. */
    stepRetries: async (ctx: onelog.Context, name: string) => {
      try {
        await ctx.run(
          "flaky step",
          () => {
            attempt(`step/${name}`);
            throw new Error("step broke");
          },
          { maxRetryAttempts: 3, initialRetryInterval: 5 },
        );
        return "no error";
      } catch (e) {
        return { terminal: onelog.isTerminalError(e), message: (e as Error).message };
      }
    },
  },
});

const undo = onelog.service({
  name: "Undo",
  handlers: {
    undo: async (ctx: onelog.Context, name: string) => {
      await ctx.sleep(5);
      await ctx.run("undo", () => effect(`undo/${name}`));
      return `undone ${name}`;
    },
  },
});

const parent = onelog.service({
  name: "Parent",
  handlers: {
    /** On cancellation, compensates by calling another service and awaiting it (a saga). */
    bookWithUndo: async (ctx: onelog.Context, name: string) => {
      const awk = ctx.awakeable<string>();
      await ctx.run("publish", () => {
        published.set(name, awk.id);
      });
      try {
        return await awk.promise;
      } catch (e) {
        if (!onelog.isCancelledError(e)) throw e;
        const undone = await ctx.serviceClient(undo).undo(name);
        await ctx.run("record", () => effect(`${undone}`));
        throw new onelog.TerminalError(`cancelled and ${undone}`, { errorCode: 409 });
      }
    },
    /** Calls book and waits for it; compensates its own part on cancellation. */
    parent: async (ctx: onelog.Context, name: string) => {
      try {
        return await ctx.serviceClient(saga).book(`${name}-child`);
      } catch (e) {
        if (onelog.isCancelledError(e)) await ctx.run("compensate", () => effect(`compensate/${name}`));
        throw e;
      }
    },
  },
});

const lock = onelog.object({
  name: "Lock",
  handlers: {
    hold: async (ctx: onelog.ObjectContext, name: string) => {
      const awk = ctx.awakeable<string>();
      await ctx.run("publish", () => {
        published.set(name, awk.id);
      });
      return awk.promise;
    },
    touch: async (ctx: onelog.ObjectContext, name: string) => {
      await ctx.run("effect", () => effect(`touch/${name}`));
      return "touched";
    },
  },
});

/** Fails with a plain (retryable) error until the test heals `key`. */
const failUntilHealed = (scope: string) => async (_ctx: onelog.Context, key: string) => {
  attempt(`${scope}/${key}`);
  if (!healed.has(key)) throw new Error(`${key} is not healed yet`);
  return `healed ${key}`;
};

const flaky = onelog.service({
  name: "Flaky",
  options: { retryPolicy: { maxAttempts: 4, onMaxAttempts: "kill", initialInterval: 5, maxInterval: 20 } },
  handlers: {
    /** The service's policy: killed after 4 attempts. */
    serviceLevel: failUntilHealed("serviceLevel"),
    /** Its own maxAttempts (2) wins; onMaxAttempts (kill) comes from the service. */
    handlerLevel: onelog.handlers.handler(
      { retryPolicy: { maxAttempts: 2 } },
      failUntilHealed("handlerLevel"),
    ),
    /** Its own onMaxAttempts (pause) wins; maxAttempts (4) comes from the service. */
    handlerPause: onelog.handlers.handler(
      { retryPolicy: { onMaxAttempts: "pause" } },
      failUntilHealed("handlerPause"),
    ),
    /** Two attempts, then paused. */
    pauseAfterTwo: onelog.handlers.handler(
      { retryPolicy: { maxAttempts: 2, onMaxAttempts: "pause", initialInterval: 10 } },
      failUntilHealed("pauseAfterTwo"),
    ),
    /** Retries forever with a 200 ms backoff: catchable in backing-off. */
    backingOff: onelog.handlers.handler(
      { retryPolicy: { maxAttempts: null, initialInterval: 200, exponentiationFactor: 1 } },
      failUntilHealed("backingOff"),
    ),
  },
});

const sleepy = onelog.service({
  name: "Sleepy",
  handlers: {
    /** Waits on an awakeable; its step before the wait must not run again after a resume. */
    wait: async (ctx: onelog.Context, name: string) => {
      await ctx.run("side effect", () => effect(`side/${name}`));
      const awk = ctx.awakeable<string>();
      await ctx.run("publish", () => {
        published.set(name, awk.id);
      });
      try {
        return `resumed ${name} with ${await awk.promise}`;
      } catch (e) {
        if (onelog.isCancelledError(e)) await ctx.run("compensate", () => effect(`compensate/${name}`));
        throw e;
      }
    },
    /** The same with a short inactivity timeout: it suspends without the test mode. */
    waitBriefly: onelog.handlers.handler(
      { inactivityTimeout: 50 },
      async (ctx: onelog.Context, name: string) => {
        await ctx.run("side effect", () => effect(`side/${name}`));
        const awk = ctx.awakeable<string>();
        await ctx.run("publish", () => {
          published.set(name, awk.id);
        });
        return `resumed ${name} with ${await awk.promise}`;
      },
    ),
  },
});

const services = [saga, undo, parent, lock, flaky, sleepy];

// ---------------------------------------------------------------------------------------------

function harness(extra: Partial<onelog.StartOptions> = {}) {
  const h = {
    server: undefined as unknown as onelog.OnelogServer,
    async start() {
      h.server = await onelog.start({
        services,
        dataDir: tmpDir("onelog-lifecycle-"),
        ingressPort: 0,
        adminPort: 0,
        logger: silent,
        ...extra,
      });
    },
    get base() {
      return h.server.ingressUrl;
    },
    /** Sends with an idempotency key (so the outcome is retained) and returns the invocation id. */
    async send(p: string, body: unknown, key: string): Promise<string> {
      const r = await post(`${h.base}${p}/send`, body, { "idempotency-key": key });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return r.body.invocationId as string;
    },
    attach: (id: string) => get(`${h.base}/restate/invocation/${id}/attach`),
    output: (id: string) => get(`${h.base}/restate/invocation/${id}/output`),
    status: (id: string) => get(`${h.server.adminUrl}/invocations/${id}`),
    async stateOf(id: string): Promise<string | undefined> {
      const s = await h.status(id);
      return s.status === 200 ? (s.body.status as string) : undefined;
    },
    untilState: (id: string, state: string) =>
      eventually(`${id} is ${state}`, async () => (await h.stateOf(id)) === state),
    awakeable: (name: string) => eventually(`${name} published`, () => published.get(name)),
    async resolve(name: string, value: string) {
      const r = await fetch(`${h.base}/restate/awakeables/${await h.awakeable(name)}/resolve`, {
        method: "POST",
        body: JSON.stringify(value),
      });
      assert.equal(r.status, 202);
    },
    /** An admin operation over HTTP: PATCH {adminUrl}/invocations/{id}/{op}. */
    async admin(op: "cancel" | "kill" | "purge" | "pause" | "resume", id: string) {
      const r = await read(await fetch(`${h.server.adminUrl}/invocations/${id}/${op}`, { method: "PATCH" }));
      assert.ok(
        r.status >= 200 && r.status < 300,
        `PATCH …/${op} answered ${r.status} ${JSON.stringify(r.body)}`,
      );
    },
  };
  return h;
}

describe("lifecycle", () => {
  const h = harness();
  before(() => h.start());
  after(() => h.server?.stop());

  describe("cancel", () => {
    it("cancel of a handler waiting on an awakeable: CancelledError at the await, a compensation step runs, the invocation ends 409", async () => {
      const id = await h.send("/Saga/book", "c1", "c1");
      await h.awakeable("c1");
      await h.server.engine.operate("cancel", id);
      const r = await h.attach(id);
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.deepEqual(r.body, { code: 409, message: "Cancelled", source: "invocation" });
      assert.equal(effects.get("reserve/c1"), 1);
      assert.equal(effects.get("compensate/c1"), 1);
      assert.equal(effects.get("confirm/c1"), undefined);
      // A late resolve changes nothing.
      await h.resolve("c1", "too late");
      assert.equal((await h.output(id)).status, 409);
    });

    it("cancel propagates to a call in flight: the callee, blocked on an awakeable, is cancelled and compensates too", async () => {
      const id = await h.send("/Parent/parent", "p1", "p1");
      await h.awakeable("p1-child");
      const childId = await h.awakeable("id of p1-child");
      await h.server.engine.operate("cancel", id);
      const r = await h.attach(id);
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.deepEqual(r.body, { code: 409, message: "Cancelled", source: "invocation" });
      // The child completes cancelled, and is kept for history with its result.
      await eventually("the child completed", async () => (await h.stateOf(childId)) === "completed");
      assert.deepEqual((await h.status(childId)).body.failure, { code: 409, message: "Cancelled" });
      assert.equal(effects.get("compensate/p1-child"), 1);
      assert.equal(effects.get("compensate/p1"), 1);
      assert.equal(effects.get("confirm/p1-child"), undefined);
    });

    it("after a CancelledError the handler can still call and await other handlers to compensate", async () => {
      const id = await h.send("/Parent/bookWithUndo", "c-undo", "c-undo");
      await h.awakeable("c-undo");
      await h.server.engine.operate("cancel", id);
      const r = await h.attach(id);
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.deepEqual(r.body, { code: 409, message: "cancelled and undone c-undo", source: "invocation" });
      assert.equal(effects.get("undo/c-undo"), 1);
      assert.equal(effects.get("undone c-undo"), 1);
    });

    it("ctx.cancel(id) from another handler cancels the invocation", async () => {
      const id = await h.send("/Saga/book", "c3", "c3");
      await h.awakeable("c3");
      assert.equal((await post(`${h.base}/Saga/cancelOther`, id)).body, "asked");
      const r = await h.attach(id);
      assert.deepEqual(r.body, { code: 409, message: "Cancelled", source: "invocation" });
      assert.equal(effects.get("compensate/c3"), 1);
    });

    it("cancel of a delayed invocation before it is due ends it 409; it never runs", async () => {
      const r = await post(`${h.base}/Saga/quick/send?delay=10s`, "delayed-cancel", {
        "idempotency-key": "delayed-cancel",
      });
      const id = r.body.invocationId as string;
      assert.equal(await h.stateOf(id), "scheduled");
      await h.server.engine.operate("cancel", id);
      assert.deepEqual((await h.attach(id)).body, { code: 409, message: "Cancelled", source: "invocation" });
      assert.equal(effects.get("quick/delayed-cancel"), undefined);
    });

    it("cancel of an invocation still waiting for its key's lock ends it 409 without running it", async () => {
      const holder = await h.send("/Lock/k/hold", "lock-k", "lock-k");
      await h.awakeable("lock-k");
      const queued = await h.send("/Lock/k/touch", "queued", "lock-k-queued");
      assert.equal(await h.stateOf(queued), "inboxed");
      await h.server.engine.operate("cancel", queued);
      assert.deepEqual((await h.attach(queued)).body, {
        code: 409,
        message: "Cancelled",
        source: "invocation",
      });
      await h.resolve("lock-k", "done");
      assert.equal((await h.attach(holder)).body, "done");
      assert.equal(effects.get("touch/queued"), undefined);
      // The key is free again.
      assert.equal((await post(`${h.base}/Lock/k/touch`, "after")).body, "touched");
    });
  });

  describe("kill and purge", () => {
    it("kill of a key's lock holder passes the lock on: the next queued call runs", async () => {
      const holder = await h.send("/Lock/kk/hold", "lock-kk", "lock-kk");
      await h.awakeable("lock-kk");
      const queued = await h.send("/Lock/kk/touch", "after-kill", "lock-kk-queued");
      assert.equal(await h.stateOf(queued), "inboxed");
      await h.server.engine.operate("kill", holder);
      assert.deepEqual((await h.attach(holder)).body, { code: 409, message: "Killed", source: "invocation" });
      assert.equal((await h.attach(queued)).body, "touched");
      assert.equal(effects.get("touch/after-kill"), 1);
    });

    it("kill ends the invocation with 409 Killed without running the compensation", async () => {
      const id = await h.send("/Saga/book", "k1", "k1");
      await h.awakeable("k1");
      await h.server.engine.operate("kill", id);
      const r = await h.attach(id);
      assert.equal(r.status, 409);
      assert.deepEqual(r.body, { code: 409, message: "Killed", source: "invocation" });
      assert.equal(effects.get("compensate/k1"), undefined);
    });

    it("kill propagates to a call in flight: the callee ends too, and nothing compensates", async () => {
      const id = await h.send("/Parent/parent", "p2", "p2");
      await h.awakeable("p2-child");
      const childId = await h.awakeable("id of p2-child");
      assert.ok(["invoked", "suspended"].includes((await h.stateOf(childId)) ?? ""), "the child is running");
      await h.server.engine.operate("kill", id);
      assert.deepEqual((await h.attach(id)).body, { code: 409, message: "Killed", source: "invocation" });
      await eventually("the child ended", async () => (await h.stateOf(childId)) === "completed");
      assert.deepEqual((await h.status(childId)).body.failure, { code: 409, message: "Killed" });
      await h.resolve("p2-child", "too late");
      assert.equal(effects.get("compensate/p2"), undefined);
      assert.equal(effects.get("compensate/p2-child"), undefined);
      assert.equal(effects.get("confirm/p2-child"), undefined);
    });

    it("purge removes a completed idempotent invocation: output → 404, and the same key runs anew", async () => {
      const headers = { "idempotency-key": "purge-1" };
      const first = await post(`${h.base}/Saga/quick`, "purge-1", headers);
      assert.equal(first.body, 1);
      const id = first.headers.get("x-restate-id")!;
      assert.equal((await h.output(id)).body, 1);
      await h.server.engine.operate("purge", id);
      const gone = await h.output(id);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.onelog_code, "OL1008");
      assert.equal((await h.status(id)).status, 404);
      assert.equal((await post(`${h.base}/Saga/quick`, "purge-1", headers)).body, 2);
    });
  });

  describe("pause, resume and retry policies", () => {
    it("an invocation in backing-off can be paused (no more attempts), then resumed once the handler is fixed", async () => {
      const id = await h.send("/Flaky/backingOff", "bo", "bo");
      await h.untilState(id, "backing-off");
      await h.server.engine.operate("pause", id);
      assert.equal(await h.stateOf(id), "paused");
      const tried = attempts.get("backingOff/bo");
      // Three backoff intervals later it is still paused and was not tried again.
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(await h.stateOf(id), "paused");
      assert.equal(attempts.get("backingOff/bo"), tried);
      assert.equal((await h.output(id)).status, 470);
      healed.add("bo");
      await h.server.engine.operate("resume", id);
      const r = await h.attach(id);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body, "healed bo");
    });

    it("retries used up (maxAttempts 2, onMaxAttempts pause): admin shows paused; it resumes once fixed", async () => {
      const id = await h.send("/Flaky/pauseAfterTwo", "p2a", "p2a");
      await h.untilState(id, "paused");
      const s = await h.status(id);
      assert.equal(s.body.status, "paused");
      assert.match(s.body.last_failure, /p2a is not healed yet/);
      assert.equal(attempts.get("pauseAfterTwo/p2a"), 2);
      assert.equal((await h.output(id)).status, 470);
      healed.add("p2a");
      await h.server.engine.resume(id);
      assert.equal((await h.attach(id)).body, "healed p2a");
      assert.equal(attempts.get("pauseAfterTwo/p2a"), 3);
    });

    it("the handler's retry policy beats the service's, field by field", async () => {
      const svc = await post(`${h.base}/Flaky/serviceLevel`, "rp1");
      assert.equal(svc.status, 500);
      assert.match(svc.body.message, /killed after 4 attempts/);
      assert.equal(attempts.get("serviceLevel/rp1"), 4);

      const own = await post(`${h.base}/Flaky/handlerLevel`, "rp2");
      assert.equal(own.status, 500);
      assert.match(own.body.message, /killed after 2 attempts/);
      assert.equal(attempts.get("handlerLevel/rp2"), 2);

      const id = await h.send("/Flaky/handlerPause", "rp3", "rp3");
      await h.untilState(id, "paused");
      assert.equal(attempts.get("handlerPause/rp3"), 4);
    });

    it("ctx.run with maxRetryAttempts 3 retries in place, then fails with a TerminalError the handler catches", async () => {
      const r = await post(`${h.base}/Saga/stepRetries`, "s1");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.terminal, true);
      // The step's own message, as Restate gives it.
      assert.equal(r.body.message, "step broke");
      assert.equal(attempts.get("step/s1"), 3);
    });
  });

  describe("suspension (inactivity timeout)", () => {
    it("a handler with a short inactivity timeout suspends while waiting, and resumes without re-running its step", async () => {
      const id = await h.send("/Sleepy/waitBriefly", "brief", "brief");
      await h.awakeable("brief");
      await h.untilState(id, "suspended");
      await h.resolve("brief", "value");
      assert.equal((await h.attach(id)).body, "resumed brief with value");
      assert.equal(effects.get("side/brief"), 1);
    });
  });

  describe("the admin API over HTTP", () => {
    it("PATCH {admin}/invocations/{id}/cancel cancels a waiting handler: it compensates and ends 409", async () => {
      const id = await h.send("/Saga/book", "admin-c", "admin-c");
      await h.awakeable("admin-c");
      await h.admin("cancel", id);
      assert.deepEqual((await h.attach(id)).body, { code: 409, message: "Cancelled", source: "invocation" });
      assert.equal(effects.get("compensate/admin-c"), 1);
    });

    it("PATCH {admin}/invocations/{id}/kill ends it 409 Killed; PATCH …/purge forgets a completed one", async () => {
      const id = await h.send("/Saga/book", "admin-k", "admin-k");
      await h.awakeable("admin-k");
      await h.admin("kill", id);
      assert.deepEqual((await h.attach(id)).body, { code: 409, message: "Killed", source: "invocation" });
      assert.equal(effects.get("compensate/admin-k"), undefined);
      await h.admin("purge", id);
      assert.equal((await h.output(id)).status, 404);
    });

    it("PATCH {admin}/invocations/{id}/pause and …/resume: retries used up → paused; resumed after the fix", async () => {
      const paused = await h.send("/Flaky/pauseAfterTwo", "admin-p", "admin-p");
      await h.untilState(paused, "paused");
      healed.add("admin-p");
      await h.admin("resume", paused);
      assert.equal((await h.attach(paused)).body, "healed admin-p");

      const backing = await h.send("/Flaky/backingOff", "admin-bo", "admin-bo");
      await h.untilState(backing, "backing-off");
      await h.admin("pause", backing);
      assert.equal(await h.stateOf(backing), "paused");
      healed.add("admin-bo");
      await h.admin("resume", backing);
      assert.equal((await h.attach(backing)).body, "healed admin-bo");
    });

    it("GET {admin}/invocations/{id} of an unknown id → 404 OL1008", async () => {
      const r = await h.status("inv_" + "0".repeat(40));
      assert.equal(r.status, 404);
      assert.equal(r.body.onelog_code, "OL1008");
    });

    it("GET {admin}/invocations/{id} of a malformed id → 400 JSON, and the server stays up", async () => {
      // In a child process: the bug takes the whole process down.
      const dir = tmpDir("onelog-lifecycle-");
      const code = `
          import * as onelog from "onelog";
          const svc = onelog.service({ name: "S", handlers: { h: async () => "alive" } });
          const s = await onelog.start({ services: [svc], dataDir: ${JSON.stringify(dir)}, ingressPort: 0, adminPort: 0,
            logger: { debug() {}, info() {}, warn() {}, error() {} } });
          process.stdout.write(JSON.stringify({ ingress: s.ingressUrl, admin: s.adminUrl }) + "\\n");
          process.stdin.resume();
          process.stdin.on("end", async () => { await s.stop(); process.exit(0); });
        `;
      const child = spawn(
        process.execPath,
        ["--conditions=onelog-source", "--import", "tsx", "--input-type=module", "-e", code],
        { cwd: path.resolve(import.meta.dirname, "../.."), stdio: ["pipe", "pipe", "ignore"] },
      );
      const exited = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
      try {
        const urls = await new Promise<{ ingress: string; admin: string }>((resolve, reject) => {
          let out = "";
          child.stdout.on("data", (d: Buffer) => {
            out += d.toString();
            if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]!));
          });
          child.on("exit", (c) => reject(new Error(`child exited early with ${c}`)));
        });
        const r = await get(`${urls.admin}/invocations/hello`).catch((e: unknown) => ({
          status: 0,
          headers: new Headers(),
          body: String(e),
        }));
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal(r.body.onelog_code, "OL1013");
        const still = await post(`${urls.ingress}/S/h`);
        assert.equal(still.body, "alive");
      } finally {
        child.stdin.end();
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
    });
  });
});

describe("lifecycle: suspendAlways", () => {
  const h = harness({ suspendAlways: true });
  before(() => h.start());
  after(() => h.server?.stop());

  it("a handler waiting on an awakeable is suspended; after the resolve it resumes and its earlier ctx.run is not re-executed", async () => {
    const id = await h.send("/Sleepy/wait", "susp", "susp");
    await h.awakeable("susp");
    await h.untilState(id, "suspended");
    // The awakeable is signal 17; the cancel signal (1) always resumes a suspended invocation.
    assert.deepEqual((await h.status(id)).body.waiting_on, { completion_ids: [], signal_ids: [17, 1] });
    await h.resolve("susp", "ok");
    const r = await h.attach(id);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body, "resumed susp with ok");
    assert.equal(effects.get("side/susp"), 1);
  });

  it("cancel of a suspended invocation wakes it: it compensates and ends 409; its earlier step ran once", async () => {
    const id = await h.send("/Sleepy/wait", "susp-cancel", "susp-cancel");
    await h.awakeable("susp-cancel");
    await h.untilState(id, "suspended");
    await h.server.engine.operate("cancel", id);
    assert.deepEqual((await h.attach(id)).body, { code: 409, message: "Cancelled", source: "invocation" });
    assert.equal(effects.get("compensate/susp-cancel"), 1);
    assert.equal(effects.get("side/susp-cancel"), 1);
  });

  it("kill of a suspended invocation ends it 409 Killed without waking it to compensate", async () => {
    const id = await h.send("/Sleepy/wait", "susp-kill", "susp-kill");
    await h.awakeable("susp-kill");
    await h.untilState(id, "suspended");
    await h.server.engine.operate("kill", id);
    assert.deepEqual((await h.attach(id)).body, { code: 409, message: "Killed", source: "invocation" });
    assert.equal(effects.get("compensate/susp-kill"), undefined);
  });

  it("a paused suspended invocation, once resumed, waits again and completes when resolved", async () => {
    const id = await h.send("/Sleepy/wait", "susp-pause", "susp-pause");
    await h.awakeable("susp-pause");
    await h.untilState(id, "suspended");
    await h.server.engine.operate("pause", id);
    assert.equal(await h.stateOf(id), "paused");
    await h.server.engine.operate("resume", id);
    await h.resolve("susp-pause", "later");
    assert.equal((await h.attach(id)).body, "resumed susp-pause with later");
    assert.equal(effects.get("side/susp-pause"), 1);
  });
});
