// Proves RestatePromise's futures and combinators decide by journal position, not by the order JS saw settlements or the array order (restate-promise.ts invariants 1–2), by settling Futures directly at chosen positions; plus orTimeout, map, edge cases, and durable promises in combinators through a real attempt.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  Future,
  RestatePromise,
  RestatePromiseImpl,
  type SleepFactory,
} from "../../packages/sdk/src/internal/restate-promise.js";
import { TerminalError, isTerminalError, isTimeoutError } from "../../packages/sdk/src/internal/errors.js";
import {
  resolveHandlers,
  startAttempt,
  type Applied,
  type AttemptIO,
  type JournalEntry,
} from "../../packages/sdk/src/internal/index.js";
import { workflow, type WorkflowContext } from "../../packages/sdk/src/index.js";

// ---------------------------------------------------------------------------------------------
// Helpers

/** Sleeps made by orTimeout: the requested ms and the future that completes the sleep. */
function sleeps() {
  const made: { ms: number; future: Future<void> }[] = [];
  const factory: SleepFactory = (ms) => {
    const future = new Future<void>();
    made.push({ ms, future });
    return new RestatePromiseImpl(future, factory);
  };
  return { made, factory };
}

const NO_SLEEP: SleepFactory = () => {
  throw new Error("no sleep expected");
};

/** A journaled future and its promise. */
function journaled<T>(sleep: SleepFactory = NO_SLEEP): { f: Future<T>; p: RestatePromiseImpl<T> } {
  const f = new Future<T>();
  return { f, p: new RestatePromiseImpl(f, sleep) };
}

/** The settlement of a combinator, read without awaiting (it settles synchronously). */
function outcomeOf(p: PromiseLike<unknown>) {
  assert.ok(p instanceof RestatePromiseImpl);
  return (p as RestatePromiseImpl<unknown>).future.settled;
}

const ticks = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

// ---------------------------------------------------------------------------------------------

describe("Future (invariant 1)", () => {
  it("settles once: later resolves and rejects are ignored, the first position is kept", async () => {
    const f = new Future<string>();
    const seen: unknown[] = [];
    f.onSettled((s) => seen.push(s));
    f.resolve("first", 4);
    f.resolve("second", 2);
    f.reject(new Error("late"), 1);
    assert.deepEqual(f.settled, { ok: true, value: "first", position: 4 });
    assert.equal(await f.promise, "first");
    assert.deepEqual(seen, [{ ok: true, value: "first", position: 4 }]);
  });

  it("onSettled after settlement is called at once with the settlement", () => {
    const f = new Future<number>();
    const err = new Error("x");
    f.reject(err, 7);
    let got: unknown;
    f.onSettled((s) => (got = s));
    assert.deepEqual(got, { ok: false, error: err, position: 7 });
  });

  it("a rejected future nobody awaits does not crash the process", async () => {
    new Future<number>().reject(new Error("nobody listens"), 1);
    await ticks();
  });

  it("a RestatePromise awaits, catches and finalizes like a promise", async () => {
    const { f, p } = journaled<number>();
    f.reject(new TerminalError("no", { errorCode: 418 }), 3);
    const caught = await p.catch((e: TerminalError) => e.code);
    assert.equal(caught, 418);
    let finalized = false;
    const { f: g, p: q } = journaled<number>();
    g.resolve(1, 1);
    assert.equal(await q.finally(() => (finalized = true)), 1);
    assert.equal(finalized, true);
  });
});

describe("combinators decide by journal position (invariant 2)", () => {
  it("race: among futures already settled (a replay), the lowest position wins, whatever the array or settle order", () => {
    for (const order of [0, 1] as const) {
      const a = journaled<string>();
      const b = journaled<string>();
      a.f.resolve("a", 9); // settled first in JS, but later in the journal
      b.f.resolve("b", 4);
      const race = RestatePromise.race(order === 0 ? [a.p, b.p] : [b.p, a.p]);
      assert.deepEqual(outcomeOf(race), { ok: true, value: "b", position: 4 });
    }
  });

  it("race: live, the first future to settle after it was built wins at its position", () => {
    const a = journaled<string>();
    const b = journaled<string>();
    const race = RestatePromise.race([a.p, b.p]);
    assert.equal(outcomeOf(race), undefined);
    b.f.resolve("b", 5);
    a.f.resolve("a", 6);
    assert.deepEqual(outcomeOf(race), { ok: true, value: "b", position: 5 });
  });

  it("race: a failure at the lowest position rejects it", async () => {
    const a = journaled<string>();
    const b = journaled<string>();
    b.f.resolve("b", 8);
    a.f.reject(new TerminalError("a failed"), 3);
    const race = RestatePromise.race([b.p, a.p]);
    await assert.rejects(Promise.resolve(race), /a failed/);
  });

  it("all: values in argument order, at the position of the last completion", () => {
    const xs = [journaled<number>(), journaled<number>(), journaled<number>()];
    const all = RestatePromise.all(xs.map((x) => x.p));
    xs[2]!.f.resolve(3, 10);
    xs[0]!.f.resolve(1, 12);
    assert.equal(outcomeOf(all), undefined);
    xs[1]!.f.resolve(2, 11);
    assert.deepEqual(outcomeOf(all), { ok: true, value: [1, 2, 3], position: 12 });
  });

  it("all: the failure with the lowest position rejects it, even if another failure settled first in JS", () => {
    const a = journaled<number>();
    const b = journaled<number>();
    const c = journaled<number>();
    const late = new TerminalError("late");
    const early = new TerminalError("early");
    a.f.reject(late, 20);
    c.f.reject(early, 15);
    b.f.resolve(1, 5);
    const all = RestatePromise.all([a.p, b.p, c.p]);
    assert.deepEqual(outcomeOf(all), { ok: false, error: early, position: 15 });
  });

  it("any: the success with the lowest position; failures before it are ignored", () => {
    const a = journaled<string>();
    const b = journaled<string>();
    const c = journaled<string>();
    a.f.reject(new TerminalError("x"), 1);
    c.f.resolve("c", 7);
    b.f.resolve("b", 3);
    assert.deepEqual(outcomeOf(RestatePromise.any([a.p, b.p, c.p])), { ok: true, value: "b", position: 3 });
  });

  it("any: when all fail, an AggregateError at the last failure's position", () => {
    const a = journaled<string>();
    const b = journaled<string>();
    a.f.reject(new TerminalError("a"), 2);
    b.f.reject(new TerminalError("b"), 6);
    const s = outcomeOf(RestatePromise.any([a.p, b.p]));
    assert.equal(s?.ok, false);
    assert.equal(s?.position, 6);
    assert.ok((s as { error: unknown }).error instanceof AggregateError);
  });

  it("any: the AggregateError lists the errors in argument order, like Promise.any", () => {
    const a = journaled<string>();
    const b = journaled<string>();
    a.f.reject(new TerminalError("a"), 6);
    b.f.reject(new TerminalError("b"), 2);
    const s = outcomeOf(RestatePromise.any([a.p, b.p]));
    const errors = ((s as { error: AggregateError }).error.errors as Error[]).map((e) => e.message);
    assert.deepEqual(errors, ["a", "b"]);
  });

  it("allSettled: every outcome in argument order, at the position of the last", () => {
    const a = journaled<string>();
    const b = journaled<string>();
    const err = new TerminalError("b");
    b.f.reject(err, 4);
    a.f.resolve("a", 9);
    assert.deepEqual(outcomeOf(RestatePromise.allSettled([a.p, b.p])), {
      ok: true,
      value: [
        { status: "fulfilled", value: "a" },
        { status: "rejected", reason: err },
      ],
      position: 9,
    });
  });

  it("empty inputs: all and allSettled give [], any rejects, race never settles", async () => {
    assert.deepEqual(outcomeOf(RestatePromise.all([])), { ok: true, value: [], position: 0 });
    assert.deepEqual(outcomeOf(RestatePromise.allSettled([])), { ok: true, value: [], position: 0 });
    assert.equal(outcomeOf(RestatePromise.any([]))?.ok, false);
    const race = RestatePromise.race([]);
    await ticks();
    assert.equal(outcomeOf(race), undefined);
  });

  it("a plain promise is refused with a TypeError naming the combinator", () => {
    for (const [name, fn] of [
      ["all", (ps: PromiseLike<unknown>[]) => RestatePromise.all(ps)],
      ["race", (ps: PromiseLike<unknown>[]) => RestatePromise.race(ps)],
      ["any", (ps: PromiseLike<unknown>[]) => RestatePromise.any(ps)],
      ["allSettled", (ps: PromiseLike<unknown>[]) => RestatePromise.allSettled(ps)],
    ] as const) {
      assert.throws(
        () => fn([journaled<number>().p, Promise.resolve(1)]),
        (e: unknown) =>
          e instanceof TypeError && e.message.includes(`RestatePromise.${name} takes journaled futures`),
      );
    }
  });

  it("combinators compose: a race of an all and a single future", () => {
    const a = journaled<number>();
    const b = journaled<number>();
    const c = journaled<number>();
    a.f.resolve(1, 3);
    b.f.resolve(2, 8);
    c.f.resolve(3, 5);
    const s = outcomeOf(RestatePromise.race([RestatePromise.all([a.p, b.p]), c.p]));
    assert.deepEqual(s, { ok: true, value: 3, position: 5 });
  });
});

describe("map", () => {
  it("maps a value at the same position", () => {
    const { f, p } = journaled<number>();
    const m = p.map((v) => (v ?? 0) * 2);
    f.resolve(21, 6);
    assert.deepEqual(outcomeOf(m), { ok: true, value: 42, position: 6 });
  });

  it("maps a terminal failure into a value; a non-terminal error passes through; a throwing mapper rejects", () => {
    const t = journaled<number>();
    const m1 = t.p.map((_v, failure) => `recovered ${failure?.code}`);
    t.f.reject(new TerminalError("x", { errorCode: 402 }), 2);
    assert.deepEqual(outcomeOf(m1), { ok: true, value: "recovered 402", position: 2 });

    const plain = new Error("abort");
    const n = journaled<number>();
    const m2 = n.p.map(() => "never");
    n.f.reject(plain, 3);
    assert.deepEqual(outcomeOf(m2), { ok: false, error: plain, position: 3 });

    const boom = new Error("mapper");
    const k = journaled<number>();
    const m3 = k.p.map(() => {
      throw boom;
    });
    k.f.resolve(1, 4);
    assert.deepEqual(outcomeOf(m3), { ok: false, error: boom, position: 4 });
  });
});

describe("orTimeout", () => {
  it("asks for a journaled sleep of the duration; the sleep first gives a TimeoutError (408)", async () => {
    const s = sleeps();
    const { f, p } = journaled<string>(s.factory);
    const timed = p.orTimeout({ seconds: 2 });
    assert.deepEqual(
      s.made.map((x) => x.ms),
      [2_000],
    );
    s.made[0]!.future.resolve(undefined, 5);
    f.resolve("late", 6);
    await assert.rejects(Promise.resolve(timed), (e: unknown) => {
      assert.ok(isTimeoutError(e));
      assert.ok(isTerminalError(e));
      assert.equal((e as TerminalError).code, 408);
      assert.equal((e as Error).message, "timed out after 2000 ms");
      return true;
    });
  });

  it("the value first wins; on replay (both settled) the lower position decides", async () => {
    const s = sleeps();
    const { f, p } = journaled<string>(s.factory);
    const timed = p.orTimeout(100);
    f.resolve("in time", 3);
    s.made[0]!.future.resolve(undefined, 4);
    assert.equal(await timed, "in time");

    // A replay delivers the sleep's journaled completion as the sleep is issued: both are settled
    // when the race is built, and the journal order decides.
    for (const [valueAt, sleepAt, timesOut] of [
      [9, 8, true],
      [8, 9, false],
    ] as const) {
      const replaySleep: SleepFactory = () => {
        const future = new Future<void>();
        future.resolve(undefined, sleepAt);
        return new RestatePromiseImpl(future, replaySleep);
      };
      const x = journaled<string>(replaySleep);
      x.f.resolve("value", valueAt);
      const replayed = x.p.orTimeout(100);
      if (timesOut) await assert.rejects(Promise.resolve(replayed), (e: unknown) => isTimeoutError(e));
      else assert.equal(await replayed, "value");
    }
  });

  it("a combinator's orTimeout uses its children's journaled sleep", async () => {
    const s = sleeps();
    const a = journaled<number>(s.factory);
    const b = journaled<number>(s.factory);
    const timed = RestatePromise.all([a.p, b.p]).orTimeout(50);
    assert.equal(s.made.length, 1);
    a.f.resolve(1, 2);
    s.made[0]!.future.resolve(undefined, 3);
    await assert.rejects(Promise.resolve(timed), (e: unknown) => isTimeoutError(e));
  });
});

describe("durable promises in combinators", () => {
  const run = async (ctx: WorkflowContext) =>
    RestatePromise.race([ctx.promise<string>("clicked"), ctx.sleep(1_000).map(() => "timed out")]);

  /** Runs the workflow's run handler on `journal`; returns the handle and the engine's journal. */
  function attempt(journal: JournalEntry[]) {
    const handler = resolveHandlers(workflow({ name: "Signup", handlers: { run } })).find(
      (h) => h.name === "run",
    )!;
    const log = [...journal];
    const io: AttemptIO = {
      invocationId: "inv_1111111111111111aaaaaaaaaaaaaaaaaaaaaaaa",
      journal: [...journal],
      key: "wf1",
      propose: async (_k, entry): Promise<Applied> => {
        log.push(entry);
        return { position: log.length - 1 };
      },
      proposeRunCompletion: async () => {},
      now: () => 0,
      sleep: async () => {},
      console,
    };
    return { handle: startAttempt(handler, io), log };
  }
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const INPUT: JournalEntry = { type: "input", argument: new Uint8Array(0), headers: {} };

  it("a workflow's DurablePromise races as its get(): the promise's completion first wins", async () => {
    const { handle, log } = attempt([INPUT]);
    await ticks();
    const commands = log.slice(1).map((e) => e.type);
    assert.deepEqual([...commands].sort(), ["promise_get", "sleep"]);
    const get = log.find((e) => e.type === "promise_get") as { completionId: number };
    const completion = {
      type: "completion",
      completionId: get.completionId,
      value: { ok: enc("yes") },
    } as const;
    log.push(completion);
    handle.notify(completion, log.length - 1);
    assert.deepEqual(await handle.outcome, { type: "end", result: { ok: enc("yes") } });
  });

  it("on replay, the sleep's completion journaled first wins the same race", async () => {
    const live = attempt([INPUT]);
    await ticks();
    const idOf = (type: string) =>
      (live.log.find((e) => e.type === type) as { completionId: number }).completionId;
    const journal: JournalEntry[] = [
      ...live.log,
      { type: "completion", completionId: idOf("sleep"), value: { void: true } },
      { type: "completion", completionId: idOf("promise_get"), value: { ok: enc("too late") } },
    ];
    const replay = attempt(journal);
    assert.deepEqual(await replay.handle.outcome, { type: "end", result: { ok: enc("timed out") } });
    assert.equal(replay.log.length, journal.length, "a replay proposes nothing");
  });
});
