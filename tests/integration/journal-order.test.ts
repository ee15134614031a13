// Proves combinators resolve in the order completions reach the journal, as in Restate, and that replays take the same branch: race/any over two ctx.run steps where the later-started one finishes first, allSettled with a failing step, orTimeout losing and winning against a step — real handlers in onelog.start() on SQLite over HTTP, each run once more after a journaled sleep forces (in CI's suspend-always run) a suspension and a full replay, with every step body counted.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import { get, post, silent, tmpDir } from "./http-harness.js";

/** How many times each step body ran, by `key/step`. */
const bodies = new Map<string, number>();
const ran = (key: string, step: string) =>
  bodies.set(`${key}/${step}`, (bodies.get(`${key}/${step}`) ?? 0) + 1);
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A step started first that finishes well after `fast` (300 ms of real time in its body). */
function slowStep(ctx: onelog.Context, key: string): onelog.RestatePromise<string> {
  return ctx.run("slow", async () => {
    ran(key, "slow");
    await pause(300);
    return "slow";
  });
}

function fastStep(ctx: onelog.Context, key: string): onelog.RestatePromise<string> {
  return ctx.run("fast", () => {
    ran(key, "fast");
    return "fast";
  });
}

const order = onelog.service({
  name: "Order",
  handlers: {
    race: async (ctx: onelog.Context, key: string) => {
      const slow = slowStep(ctx, key);
      const fast = fastStep(ctx, key);
      const winner = await onelog.RestatePromise.race([slow, fast]);
      // A journaled sleep: in suspend-always mode the attempt suspends here and the replay must
      // pick the same winner from the journal.
      await ctx.sleep(20);
      const again = await onelog.RestatePromise.race([slow, fast]);
      return { winner, again, both: await onelog.RestatePromise.all([slow, fast]) };
    },
    /** The race, then a long sleep so the journal can be read while the invocation runs. */
    raceAndHold: async (ctx: onelog.Context, key: string) => {
      const winner = await onelog.RestatePromise.race([slowStep(ctx, key), fastStep(ctx, key)]);
      await ctx.run("after", () => undefined);
      await ctx.sleep(5_000);
      return winner;
    },
    any: async (ctx: onelog.Context, key: string) => {
      const failing = ctx.run("failing", async () => {
        ran(key, "failing");
        throw new onelog.TerminalError("no luck");
      });
      const slow = slowStep(ctx, key);
      const fast = fastStep(ctx, key);
      const winner = await onelog.RestatePromise.any([failing, slow, fast]);
      await ctx.sleep(20);
      return { winner };
    },
    allSettled: async (ctx: onelog.Context, key: string) => {
      const good = ctx.run("good", () => {
        ran(key, "good");
        return 1;
      });
      const bad = ctx.run("bad", async () => {
        ran(key, "bad");
        await pause(50);
        throw new onelog.TerminalError("bad step", { errorCode: 422 });
      });
      const settled = await onelog.RestatePromise.allSettled([good, bad]);
      await ctx.sleep(20);
      return settled.map((s) =>
        s.status === "fulfilled" ? { value: s.value } : { reason: (s.reason as Error).message },
      );
    },
    timeoutLoses: async (ctx: onelog.Context, key: string) => {
      // The step takes 300 ms; the timeout is 50 ms: the sleep's completion comes first.
      try {
        await slowStep(ctx, key).orTimeout(50);
        return "step won";
      } catch (e) {
        await ctx.sleep(20);
        return onelog.isTimeoutError(e) ? "timed out" : `other: ${String(e)}`;
      }
    },
    timeoutWins: async (ctx: onelog.Context, key: string) => {
      const value = await fastStep(ctx, key).orTimeout({ seconds: 30 });
      await ctx.sleep(20);
      return value;
    },
    /** A RestatePromise is a Promise: assignable, and `instanceof Promise`. */
    isPromise: async (ctx: onelog.Context, key: string) => {
      const p: Promise<string> = fastStep(ctx, key);
      return { instance: p instanceof Promise, value: await p };
    },
  },
});

describe("journal order: combinators resolve in completion order", () => {
  let server: onelog.OnelogServer;
  before(async () => {
    server = await onelog.start({
      services: [order],
      dataDir: tmpDir("onelog-order-"),
      ingressPort: 0,
      adminPort: 0,
      logger: silent,
    });
  });
  after(async () => {
    await server?.stop();
  });

  it("race: the later-started step that finished first wins, and the replay picks it again", async () => {
    const r = await post(`${server.ingressUrl}/Order/race`, "r1");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { winner: "fast", again: "fast", both: ["slow", "fast"] });
    assert.equal(bodies.get("r1/slow"), 1);
    assert.equal(bodies.get("r1/fast"), 1);
  });

  it("the journal holds both Run commands in issue order and their completions in completion order", async () => {
    const r = await post(`${server.ingressUrl}/Order/raceAndHold/send`, "r2", { "idempotency-key": "r2" });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.invocationId as string;
    const d = await (async () => {
      for (let i = 0; i < 200; i++) {
        const s = await get(`${server.adminUrl}/invocations/${id}`);
        const completions =
          s.status === 200 ? s.body.journal.filter((e: { type: string }) => e.type === "completion") : [];
        if (completions.length >= 3) return s.body; // fast, slow, after
        await pause(25);
      }
      throw new Error("the two completions were never journaled");
    })();
    const entries = d.journal as { type: string; name?: string; fields: { completion_id?: number } }[];
    const runs = entries.filter((e) => e.type === "run");
    assert.deepEqual(
      runs.map((e) => e.name),
      ["slow", "fast", "after"],
    );
    const idOf = (name: string) => runs.find((e) => e.name === name)!.fields.completion_id;
    const runIds = new Set([idOf("fast"), idOf("slow")]);
    const completed = entries
      .filter((e) => e.type === "completion" && runIds.has(e.fields.completion_id))
      .map((e) => e.fields.completion_id);
    assert.deepEqual(completed, [idOf("fast"), idOf("slow")]);
  });

  it("any: the first success in completion order, skipping the failure", async () => {
    const r = await post(`${server.ingressUrl}/Order/any`, "a1");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { winner: "fast" });
    for (const step of ["failing", "slow", "fast"]) assert.equal(bodies.get(`a1/${step}`), 1, step);
  });

  it("allSettled: every outcome in argument order, the failure with its message", async () => {
    const r = await post(`${server.ingressUrl}/Order/allSettled`, "s1");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, [{ value: 1 }, { reason: "bad step" }]);
    assert.equal(bodies.get("s1/good"), 1);
    assert.equal(bodies.get("s1/bad"), 1);
  });

  it("orTimeout: a step slower than the timeout loses with a TimeoutError; a quick one wins", async () => {
    const lost = await post(`${server.ingressUrl}/Order/timeoutLoses`, "t1");
    assert.deepEqual([lost.status, lost.body], [200, "timed out"]);
    assert.equal(bodies.get("t1/slow"), 1);
    const won = await post(`${server.ingressUrl}/Order/timeoutWins`, "t2");
    assert.deepEqual([won.status, won.body], [200, "fast"]);
    assert.equal(bodies.get("t2/fast"), 1);
  });

  it("a RestatePromise is a Promise", async () => {
    const r = await post(`${server.ingressUrl}/Order/isPromise`, "p1");
    assert.deepEqual(r.body, { instance: true, value: "fast" });
  });
});
