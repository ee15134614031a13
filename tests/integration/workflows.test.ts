// Proves workflows behave as documented (run once per id, shared handlers reading state, durable promises resolved/rejected/peeked once, workflow attach/output, retention of state and output also across a restart) by running real workflows in onelog.start() on a temp SQLite dataDir and calling them over HTTP.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import { eventually, get, post, silent, tmpDir } from "./http-harness.js";

// ---------------------------------------------------------------------------------------------
// Helpers

function startOn(dataDir: string, services: onelog.AnyDefinition[]): Promise<onelog.OnelogServer> {
  return onelog.start({ services, dataDir, ingressPort: 0, adminPort: 0, logger: silent });
}

// ---------------------------------------------------------------------------------------------
// The workflows under test. Side effects are counted from ctx.run, so replays do not count.

const runs = new Map<string, number>();
const counted = (key: string) => runs.set(key, (runs.get(key) ?? 0) + 1);
const gates = new Map<string, string>();

const once = onelog.workflow({
  name: "Once",
  handlers: {
    run: async (ctx: onelog.WorkflowContext, input: string) => {
      await ctx.run("count", () => {
        counted(`Once/${ctx.key}`);
      });
      ctx.set("input", input);
      return `done ${ctx.key} with ${input}`;
    },
    input: async (ctx: onelog.WorkflowSharedContext) => ctx.get<string>("input"),
  },
});

const signup = onelog.workflow({
  name: "Signup",
  handlers: {
    /** Waits for the "link" promise; a rejection ends up as a TerminalError it reports. */
    run: async (ctx: onelog.WorkflowContext, email: string) => {
      await ctx.run("count", () => {
        counted(`Signup/${ctx.key}`);
      });
      ctx.set("stage", "waiting");
      ctx.set("email", email);
      try {
        const secret = await ctx.promise<string>("link").get();
        ctx.set("stage", "done");
        return { email, secret };
      } catch (e) {
        ctx.set("stage", "rejected");
        return { email, rejected: (e as Error).message, terminal: onelog.isTerminalError(e) };
      }
    },
    click: async (ctx: onelog.WorkflowSharedContext, secret: string) => {
      await ctx.promise<string>("link").resolve(secret);
      return "clicked";
    },
    refuse: async (ctx: onelog.WorkflowSharedContext, reason: string) => {
      await ctx.promise<string>("link").reject(reason);
      return "refused";
    },
    peek: async (ctx: onelog.WorkflowSharedContext) => (await ctx.promise<string>("link").peek()) ?? null,
    stage: async (ctx: onelog.WorkflowSharedContext) => ({
      stage: await ctx.get<string>("stage"),
      email: await ctx.get<string>("email"),
      keys: await ctx.stateKeys(),
    }),
  },
});

/** A run that first waits on an awakeable, then on a promise that may already be resolved. */
const late = onelog.workflow({
  name: "Late",
  handlers: {
    run: async (ctx: onelog.WorkflowContext) => {
      const awk = ctx.awakeable<string>();
      await ctx.run("publish", () => {
        gates.set(`Late/${ctx.key}`, awk.id);
      });
      const first = await awk.promise;
      const second = await ctx.promise<string>("p").get();
      return [first, second];
    },
    resolve: async (ctx: onelog.WorkflowSharedContext, v: string) => {
      await ctx.promise<string>("p").resolve(v);
    },
  },
});

/**
 * First run ("race"): a promise raced against a 400 ms sleep; the promise wins, the sleep's timer
 * stays armed. Later run ("wait", same id after a purge): an awakeable at the same command index.
 */
const timed = onelog.workflow({
  name: "Timed",
  handlers: {
    run: async (ctx: onelog.WorkflowContext, mode: "race" | "wait") => {
      if (mode === "race") {
        return onelog.RestatePromise.race([
          ctx.promise<string>("p").get(),
          ctx.sleep(400).map(() => "slept"),
        ]);
      }
      await ctx.run("pad", () => "pad");
      const awk = ctx.awakeable<string>();
      await ctx.run("publish", () => {
        gates.set(`Timed/${ctx.key}`, awk.id);
      });
      return { got: (await awk.promise) ?? "nothing" };
    },
    resolve: async (ctx: onelog.WorkflowSharedContext, v: string) => {
      await ctx.promise<string>("p").resolve(v);
    },
  },
});

// ---------------------------------------------------------------------------------------------

describe("workflows", () => {
  let server: onelog.OnelogServer;
  let base: string;

  before(async () => {
    server = await startOn(tmpDir("onelog-workflows-"), [once, signup, late, timed]);
    base = server.ingressUrl;
  });
  after(async () => {
    await server?.stop();
  });

  it("run executes once per workflow id: a second call answers 409 as Restate; attach and output give the first one's result", async () => {
    const first = await post(`${base}/Once/w1/run`, "a");
    assert.equal(first.status, 200);
    assert.equal(first.body, "done w1 with a");
    const second = await post(`${base}/Once/w1/run`, "b");
    assert.equal(second.status, 409);
    assert.deepEqual(second.body, {
      code: 409,
      message: "the workflow method was already invoked",
      source: "invocation",
    });
    assert.equal(second.headers.get("x-restate-id"), first.headers.get("x-restate-id"));
    assert.equal((await get(`${base}/restate/workflow/Once/w1/attach`)).body, "done w1 with a");
    assert.equal((await get(`${base}/restate/workflow/Once/w1/output`)).body, "done w1 with a");
    assert.equal(runs.get("Once/w1"), 1);
    // Another id is another workflow.
    assert.equal((await post(`${base}/Once/w2/run`, "c")).body, "done w2 with c");
    assert.equal(runs.get("Once/w2"), 1);
    assert.equal((await post(`${base}/Once/w1/input`)).body, "a");
  });

  it("/run/send answers Accepted, then PreviouslyAccepted with the same id; the run happened once", async () => {
    const first = await post(`${base}/Once/s1/run/send`, "x");
    assert.equal(first.status, 202);
    assert.equal(first.body.status, "Accepted");
    const second = await post(`${base}/Once/s1/run/send`, "y");
    assert.equal(second.status, 202);
    assert.equal(second.body.status, "PreviouslyAccepted");
    assert.equal(second.body.invocationId, first.body.invocationId);
    const attached = await get(`${base}/restate/invocation/${first.body.invocationId}/attach`);
    assert.equal(attached.body, "done s1 with x");
    // A send after completion is also PreviouslyAccepted; a call is a conflict (409), as in Restate.
    assert.equal((await post(`${base}/Once/s1/run/send`, "z")).body.status, "PreviouslyAccepted");
    assert.equal((await post(`${base}/Once/s1/run`, "z")).status, 409);
    assert.equal(runs.get("Once/s1"), 1);
  });

  it("a promise resolved by a shared handler completes the run; shared handlers read state during and after; peek before and after", async () => {
    const sent = await post(`${base}/Signup/u1/run/send`, "ada@example.com");
    assert.equal(sent.status, 202);
    const id = sent.body.invocationId as string;
    const during = await eventually("the run is waiting", async () => {
      const r = await post(`${base}/Signup/u1/stage`);
      return r.body.stage === "waiting" ? r.body : undefined;
    });
    assert.deepEqual(during, { stage: "waiting", email: "ada@example.com", keys: ["email", "stage"] });
    assert.equal((await post(`${base}/Signup/u1/peek`)).body, null);

    // While running: the workflow output answers 470, and a second /run call is a conflict (409,
    // as in Restate) while attach waits for the result.
    const output = await get(`${base}/restate/workflow/Signup/u1/output`);
    assert.equal(output.status, 470);
    assert.equal(output.body.onelog_code, "OL1009");
    const conflict = await post(`${base}/Signup/u1/run`, "other@example.com");
    assert.equal(conflict.status, 409);
    assert.equal(conflict.headers.get("x-restate-id"), id);
    const waitingAttach = get(`${base}/restate/workflow/Signup/u1/attach`);
    const byId = get(`${base}/restate/invocation/${id}/attach`);

    const clicked = await post(`${base}/Signup/u1/click`, "s3cret");
    assert.equal(clicked.status, 200);
    assert.equal(clicked.body, "clicked");
    const expected = { email: "ada@example.com", secret: "s3cret" };
    for (const r of [await waitingAttach, await byId]) {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, expected);
      assert.equal(r.headers.get("x-restate-id"), id);
    }
    assert.deepEqual((await get(`${base}/restate/workflow/Signup/u1/output`)).body, expected);
    assert.equal((await post(`${base}/Signup/u1/peek`)).body, "s3cret");
    assert.deepEqual((await post(`${base}/Signup/u1/stage`)).body, {
      stage: "done",
      email: "ada@example.com",
      keys: ["email", "stage"],
    });
    assert.equal(runs.get("Signup/u1"), 1);
  });

  it("resolving a promise twice: the second resolve (or reject) fails with 409 and the value stays", async () => {
    const sent = await post(`${base}/Signup/u2/run/send`, "bob@example.com");
    assert.equal((await post(`${base}/Signup/u2/click`, "first")).body, "clicked");
    const again = await post(`${base}/Signup/u2/click`, "second");
    assert.equal(again.status, 409, JSON.stringify(again.body));
    assert.equal(again.body.code, 409);
    assert.match(again.body.message, /already completed/);
    const rejected = await post(`${base}/Signup/u2/refuse`, "too late");
    assert.equal(rejected.status, 409);
    const r = await get(`${base}/restate/invocation/${sent.body.invocationId}/attach`);
    assert.deepEqual(r.body, { email: "bob@example.com", secret: "first" });
    assert.equal((await post(`${base}/Signup/u2/peek`)).body, "first");
  });

  it("a rejected promise makes the run's get() throw a TerminalError with the reason; peek then fails too", async () => {
    await post(`${base}/Signup/u3/run/send`, "eve@example.com");
    await eventually(
      "the run is waiting",
      async () => (await post(`${base}/Signup/u3/stage`)).body.stage === "waiting",
    );
    assert.equal((await post(`${base}/Signup/u3/refuse`, "not a real person")).body, "refused");
    const r = await get(`${base}/restate/workflow/Signup/u3/attach`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { email: "eve@example.com", rejected: "not a real person", terminal: true });
    assert.equal((await post(`${base}/Signup/u3/stage`)).body.stage, "rejected");
    const peek = await post(`${base}/Signup/u3/peek`);
    assert.equal(peek.status, 500);
    assert.equal(peek.body.message, "not a real person");
  });

  it("a promise resolved before the run awaits it is delivered when it does", async () => {
    const sent = await post(`${base}/Late/l1/run/send`);
    const awk = await eventually("the run published its awakeable", () => gates.get("Late/l1"));
    const resolved = await post(`${base}/Late/l1/resolve`, "early");
    assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
    const r = await fetch(`${base}/restate/awakeables/${awk}/resolve`, {
      method: "POST",
      body: JSON.stringify("gate"),
    });
    assert.equal(r.status, 202);
    assert.deepEqual((await get(`${base}/restate/invocation/${sent.body.invocationId}/attach`)).body, [
      "gate",
      "early",
    ]);
  });

  it("purge of a finished workflow forgets its output, state and promises: the same id then runs again", async () => {
    const first = await post(`${base}/Once/p1/run`, "first");
    assert.equal(first.body, "done p1 with first");
    const id = first.headers.get("x-restate-id")!;
    await server.engine.operate("purge", id);
    assert.equal((await get(`${base}/restate/workflow/Once/p1/output`)).status, 404);
    assert.equal((await post(`${base}/Once/p1/input`)).body, null, "the state is gone");
    assert.equal((await post(`${base}/Once/p1/run`, "second")).body, "done p1 with second");
    assert.equal(runs.get("Once/p1"), 2);
  });

  it("a run of a purged workflow id is not completed by a timer the earlier run left armed", async () => {
    const first = await post(`${base}/Timed/t1/run/send`, "race");
    await post(`${base}/Timed/t1/resolve`, "promise");
    assert.equal((await get(`${base}/restate/invocation/${first.body.invocationId}/attach`)).body, "promise");
    await server.engine.operate("purge", first.body.invocationId);
    const second = await post(`${base}/Timed/t1/run/send`, "wait");
    assert.equal(second.body.status, "Accepted");
    await eventually("the second run published its awakeable", () => gates.get("Timed/t1"));
    // Past the first run's 400 ms sleep: nobody resolved the awakeable, so it still waits.
    await new Promise((r) => setTimeout(r, 800));
    const early = await get(`${base}/restate/workflow/Timed/t1/output`);
    assert.equal(early.status, 470, `completed without its awakeable: ${JSON.stringify(early.body)}`);
    const r = await fetch(`${base}/restate/awakeables/${gates.get("Timed/t1")}/resolve`, {
      method: "POST",
      body: JSON.stringify("mine"),
    });
    assert.equal(r.status, 202);
    assert.deepEqual((await get(`${base}/restate/workflow/Timed/t1/attach`)).body, { got: "mine" });
  });

  it("attach and output of an unknown workflow id → 404; of an unknown workflow name → 404", async () => {
    const unknownId = await get(`${base}/restate/workflow/Signup/never-started/output`);
    assert.equal(unknownId.status, 404);
    assert.equal(unknownId.body.onelog_code, "OL1008");
    assert.equal((await get(`${base}/restate/workflow/Signup/never-started/attach`)).status, 404);
    const unknownName = await get(`${base}/restate/workflow/Nope/x/output`);
    assert.equal(unknownName.status, 404);
    assert.equal(unknownName.body.onelog_code, "OL1001");
  });
});

describe("workflows: retention across a restart", () => {
  it("a run waiting on a durable promise when the server stops completes once it is resolved after the restart", async () => {
    const dir = tmpDir("onelog-workflows-");
    const first = await startOn(dir, [once, signup, late]);
    try {
      await post(`${first.ingressUrl}/Signup/across/run/send`, "ann@example.com");
      await eventually(
        "the run is waiting",
        async () => (await post(`${first.ingressUrl}/Signup/across/stage`)).body.stage === "waiting",
      );
    } finally {
      await first.stop();
    }
    const second = await startOn(dir, [once, signup, late]);
    try {
      const u = second.ingressUrl;
      assert.equal((await post(`${u}/Signup/across/peek`)).body, null);
      assert.equal((await post(`${u}/Signup/across/click`, "after restart")).body, "clicked");
      const r = await get(`${u}/restate/workflow/Signup/across/attach`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { email: "ann@example.com", secret: "after restart" });
      assert.equal(runs.get("Signup/across"), 1);
    } finally {
      await second.stop();
    }
  });

  it("a finished workflow keeps its output and state after a restart on the same dataDir; run does not run again", async () => {
    const dir = tmpDir("onelog-workflows-");
    const first = await startOn(dir, [once, signup, late]);
    let id: string;
    try {
      const sent = await post(`${first.ingressUrl}/Signup/kept/run/send`, "kim@example.com");
      id = sent.body.invocationId as string;
      await eventually(
        "the run is waiting",
        async () => (await post(`${first.ingressUrl}/Signup/kept/stage`)).body.stage === "waiting",
      );
      await post(`${first.ingressUrl}/Signup/kept/click`, "k");
      assert.deepEqual((await get(`${first.ingressUrl}/restate/workflow/Signup/kept/attach`)).body, {
        email: "kim@example.com",
        secret: "k",
      });
    } finally {
      await first.stop();
    }
    const second = await startOn(dir, [once, signup, late]);
    try {
      const u = second.ingressUrl;
      const expected = { email: "kim@example.com", secret: "k" };
      const out = await get(`${u}/restate/workflow/Signup/kept/output`);
      assert.equal(out.status, 200, JSON.stringify(out.body));
      assert.deepEqual(out.body, expected);
      assert.deepEqual((await get(`${u}/restate/invocation/${id}/output`)).body, expected);
      assert.deepEqual((await post(`${u}/Signup/kept/stage`)).body, {
        stage: "done",
        email: "kim@example.com",
        keys: ["email", "stage"],
      });
      assert.equal((await post(`${u}/Signup/kept/peek`)).body, "k");
      const again = await post(`${u}/Signup/kept/run`, "someone-else@example.com");
      assert.equal(again.status, 409);
      assert.equal((await post(`${u}/Signup/kept/run/send`, "x")).body.status, "PreviouslyAccepted");
      assert.equal(runs.get("Signup/kept"), 1);
    } finally {
      await second.stop();
    }
  });
});
