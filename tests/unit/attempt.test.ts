// Proves the SDK's journal state machine (runAttempt, attempt.ts invariants 1–4) replays, proposes in index order and turns every ending into one outcome, by driving real handlers through a fake AttemptIO; plus service() validation and option resolution.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULTS,
  resolveHandlers,
  runAttempt,
  type AttemptIO,
  type JournalEntry,
  type ResolvedHandler,
} from "../../packages/sdk/src/internal/index.js";
import { handlers, service, type Context, type ServiceHandler } from "../../packages/sdk/src/index.js";
import {
  RetryableError,
  TerminalError,
  isJournalMismatchError,
  isTerminalError,
} from "../../packages/sdk/src/internal/errors.js";

// ---------------------------------------------------------------------------------------------
// Helpers

const ID = "inv_1111111111111111aaaaaaaaaaaaaaaaaaaaaaaa";
const OTHER_ID = "inv_2222222222222222bbbbbbbbbbbbbbbbbbbbbbbb";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const enc = (v: unknown): Uint8Array => encoder.encode(JSON.stringify(v));
const dec = (b: Uint8Array): unknown => JSON.parse(decoder.decode(b));

const input = (v: unknown): JournalEntry => ({ type: "input", argument: enc(v), headers: { "x-test": "1" } });
const ok = (name: string, v: unknown): JournalEntry => ({ type: "run", name, result: { ok: enc(v) } });

/** The handler `Svc/h` as the engine sees it. */
function resolved(fn: ServiceHandler): ResolvedHandler {
  return resolveHandlers(service({ name: "Svc", handlers: { h: fn } }))[0]!;
}

interface Proposal {
  readonly index: number;
  readonly entry: JournalEntry;
}

/** A fake engine side: records proposals, acks them at once (or when told), counts sleeps, captures console output. */
function fakeIO(
  journal: readonly JournalEntry[],
  options: { id?: string; now?: () => number; manualAck?: boolean } = {},
) {
  const proposals: Proposal[] = [];
  const pendingAcks: (() => void)[] = [];
  const sleeps: number[] = [];
  const logs: string[] = [];
  const fakeConsole = {
    ...console,
    log: (...args: unknown[]) => logs.push(args.map(String).join(" ")),
    info: (...args: unknown[]) => logs.push(args.map(String).join(" ")),
  } as Console;
  const io: AttemptIO = {
    invocationId: options.id ?? ID,
    journal,
    propose(index, entry) {
      proposals.push({ index, entry });
      if (!options.manualAck) return Promise.resolve();
      return new Promise<void>((resolve) => pendingAcks.push(resolve));
    },
    now: options.now ?? (() => 1_000),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    console: fakeConsole,
  };
  return { io, proposals, pendingAcks, sleeps, logs };
}

/** Lets pending promise callbacks run. */
const ticks = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

/** `a` then `b`, each counted; returns their sum. */
function twoSteps(calls: string[]): ServiceHandler {
  return async (ctx: Context, x: number) => {
    const a = await ctx.run("a", () => (calls.push("a"), x + 1));
    const b = await ctx.run("b", () => (calls.push("b"), a * 10));
    return { a, b };
  };
}

function okOutput(outcome: Awaited<ReturnType<typeof runAttempt>>): unknown {
  assert.equal(outcome.type, "end", JSON.stringify(outcome));
  const result = (outcome as { result: { ok?: Uint8Array } }).result;
  assert.ok(result.ok !== undefined, JSON.stringify(result));
  return result.ok.length === 0 ? undefined : dec(result.ok);
}

// ---------------------------------------------------------------------------------------------

describe("runAttempt: fresh runs and replays", () => {
  it("a fresh run proposes each step in index order and returns the output", async () => {
    const calls: string[] = [];
    const { io, proposals } = fakeIO([input(4)]);
    const outcome = await runAttempt(resolved(twoSteps(calls)), io);
    assert.deepEqual(okOutput(outcome), { a: 5, b: 50 });
    assert.deepEqual(calls, ["a", "b"]);
    assert.deepEqual(proposals, [
      { index: 1, entry: ok("a", 5) },
      { index: 2, entry: ok("b", 50) },
    ]);
  });

  it("a replay with the full journal calls no step body, proposes nothing, and returns the same output", async () => {
    const calls: string[] = [];
    const { io, proposals } = fakeIO([input(4), ok("a", 5), ok("b", 50)]);
    const outcome = await runAttempt(resolved(twoSteps(calls)), io);
    assert.deepEqual(okOutput(outcome), { a: 5, b: 50 });
    assert.deepEqual(calls, []);
    assert.deepEqual(proposals, []);
  });

  it("a partial journal replays the recorded steps (their recorded values) and runs only the new ones", async () => {
    const calls: string[] = [];
    // The journal says `a` returned 7 (not what the body would return now): replay must use 7.
    const { io, proposals } = fakeIO([input(4), ok("a", 7)]);
    const outcome = await runAttempt(resolved(twoSteps(calls)), io);
    assert.deepEqual(okOutput(outcome), { a: 7, b: 70 });
    assert.deepEqual(calls, ["b"]);
    assert.deepEqual(proposals, [{ index: 2, entry: ok("b", 70) }]);
  });

  it("a step's promise resolves only once its entry is acknowledged", async () => {
    let after = false;
    const { io, proposals, pendingAcks } = fakeIO([input(null)], { manualAck: true });
    const outcome = runAttempt(
      resolved(async (ctx: Context) => {
        await ctx.run("a", () => 1);
        after = true;
        return "done";
      }),
      io,
    );
    await ticks();
    assert.equal(proposals.length, 1);
    assert.equal(after, false);
    pendingAcks.shift()!();
    assert.deepEqual(okOutput(await outcome), "done");
    assert.equal(after, true);
  });

  it("concurrent ctx.runs whose bodies finish out of order are proposed in index order", async () => {
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((r) => (releaseSlow = r));
    let fastDone = false;
    const { io, proposals } = fakeIO([input(null)]);
    const outcome = runAttempt(
      resolved(async (ctx: Context) =>
        Promise.all([
          ctx.run("slow", async () => {
            await slowGate;
            return "s";
          }),
          ctx.run("fast", () => {
            fastDone = true;
            return "f";
          }),
          ctx.run("fast2", () => "f2"),
        ]),
      ),
      io,
    );
    await ticks();
    assert.equal(fastDone, true);
    assert.deepEqual(proposals, [], "nothing may be proposed before entry 1 is");
    releaseSlow();
    assert.deepEqual(okOutput(await outcome), ["s", "f", "f2"]);
    assert.deepEqual(proposals, [
      { index: 1, entry: ok("slow", "s") },
      { index: 2, entry: ok("fast", "f") },
      { index: 3, entry: ok("fast2", "f2") },
    ]);
  });

  it("a journal without an input entry fails the attempt", async () => {
    const { io } = fakeIO([]);
    const outcome = await runAttempt(
      resolved(async () => "x"),
      io,
    );
    assert.equal(outcome.type, "failed");
  });

  it("invalid JSON input ends the invocation with code 400 without calling the handler", async () => {
    let called = false;
    const { io } = fakeIO([{ type: "input", argument: encoder.encode("{not json"), headers: {} }]);
    const outcome = await runAttempt(
      resolved(async () => {
        called = true;
        return 1;
      }),
      io,
    );
    assert.equal(called, false);
    assert.equal(outcome.type, "end");
    const result = (outcome as { result: { err?: { code: number; message: string } } }).result;
    assert.equal(result.err?.code, 400);
    assert.match(result.err?.message ?? "", /handler Svc\/h/);
  });

  it("the handler sees its input, headers and invocation id through ctx.request()", async () => {
    const { io } = fakeIO([input({ n: 1 })]);
    const outcome = await runAttempt(
      resolved(async (ctx: Context, arg: { n: number }) => {
        const req = ctx.request();
        return { arg, id: req.id, header: req.headers.get("x-test"), body: dec(req.body) };
      }),
      io,
    );
    assert.deepEqual(okOutput(outcome), { arg: { n: 1 }, id: ID, header: "1", body: { n: 1 } });
  });
});

describe("runAttempt: journal mismatch", () => {
  it("a handler that calls ctx.run('b') where the journal has Run 'a' fails, naming handler, index and both sides", async () => {
    let bodyRan = false;
    const { io, proposals } = fakeIO([input(null), ok("a", 1)]);
    const outcome = await runAttempt(
      resolved(async (ctx: Context) => ctx.run("b", () => ((bodyRan = true), 2))),
      io,
    );
    assert.equal(outcome.type, "failed");
    const message = (outcome as { message: string }).message;
    assert.match(message, /handler Svc\/h/);
    assert.match(message, /entry 1/);
    assert.match(message, /Run 'a'/);
    assert.match(message, /Run 'b'/);
    assert.equal(bodyRan, false);
    assert.deepEqual(proposals, []);
  });

  it("a handler that returns early, leaving journal entries unconsumed, fails", async () => {
    const { io } = fakeIO([input(null), ok("a", 1), ok("b", 2)]);
    const outcome = await runAttempt(
      resolved(async (ctx: Context) => {
        await ctx.run("a", () => 1);
        return "early";
      }),
      io,
    );
    assert.equal(outcome.type, "failed");
    const message = (outcome as { message: string }).message;
    assert.match(message, /handler Svc\/h/);
    assert.match(message, /entry 2/);
    assert.match(message, /Run 'b'/);
  });

  it("a handler that catches the mismatch error still fails", async () => {
    let caught: unknown;
    const { io, proposals } = fakeIO([input(null), ok("a", 1)]);
    const outcome = await runAttempt(
      resolved(async (ctx: Context) => {
        try {
          await ctx.run("b", () => 2);
        } catch (e) {
          caught = e;
        }
        return "swallowed";
      }),
      io,
    );
    assert.ok(isJournalMismatchError(caught));
    assert.equal(outcome.type, "failed");
    assert.match((outcome as { message: string }).message, /journal mismatch at entry 1/);
    assert.deepEqual(proposals, []);
  });
});

describe("runAttempt: errors", () => {
  it("a TerminalError thrown by the handler ends the invocation with err {code, message}", async () => {
    const { io } = fakeIO([input(null)]);
    const outcome = await runAttempt(
      resolved(async () => {
        throw new TerminalError("amount must be positive", { errorCode: 422 });
      }),
      io,
    );
    assert.deepEqual(outcome, {
      type: "end",
      result: { err: { code: 422, message: "amount must be positive" } },
    });
    const dflt = await runAttempt(
      resolved(async () => {
        throw new TerminalError("nope");
      }),
      fakeIO([input(null)]).io,
    );
    assert.deepEqual(dflt, { type: "end", result: { err: { code: 500, message: "nope" } } });
  });

  it("a TerminalError inside ctx.run is journaled as the step's result and thrown again on replay", async () => {
    const calls: string[] = [];
    const fn = async (ctx: Context) => {
      try {
        await ctx.run("charge", () => {
          calls.push("charge");
          throw new TerminalError("card declined", { errorCode: 402 });
        });
        return "charged";
      } catch (e) {
        assert.ok(isTerminalError(e));
        return `refused ${e.code}: ${e.message}`;
      }
    };
    const fresh = fakeIO([input(null)]);
    const first = await runAttempt(resolved(fn), fresh.io);
    assert.deepEqual(okOutput(first), "refused 402: card declined");
    const journaled: JournalEntry = {
      type: "run",
      name: "charge",
      result: { err: { code: 402, message: "card declined" } },
    };
    assert.deepEqual(fresh.proposals, [{ index: 1, entry: journaled }]);

    const replay = fakeIO([input(null), journaled]);
    const second = await runAttempt(resolved(fn), replay.io);
    assert.deepEqual(okOutput(second), "refused 402: card declined");
    assert.deepEqual(calls, ["charge"]);
    assert.deepEqual(replay.proposals, []);
  });

  it("a plain Error fails the attempt (retryable), without a retryAfterMs", async () => {
    const { io } = fakeIO([input(null)]);
    const outcome = await runAttempt(
      resolved(async () => {
        throw new Error("db down");
      }),
      io,
    );
    assert.deepEqual(outcome, { type: "failed", message: "Error: db down" });
  });

  it("a RetryableError with retryAfter fails the attempt with retryAfterMs", async () => {
    const outcome = await runAttempt(
      resolved(async () => {
        throw new RetryableError("rate limited", { retryAfter: { seconds: 2, milliseconds: 500 } });
      }),
      fakeIO([input(null)]).io,
    );
    assert.deepEqual(outcome, {
      type: "failed",
      message: "RetryableError: rate limited",
      retryAfterMs: 2_500,
    });
    const noAfter = await runAttempt(
      resolved(async () => {
        throw new RetryableError("later");
      }),
      fakeIO([input(null)]).io,
    );
    assert.deepEqual(noAfter, { type: "failed", message: "RetryableError: later" });
  });

  it("a step throwing a plain error fails the attempt even if the handler catches it; nothing is journaled", async () => {
    const { io, proposals } = fakeIO([input(null)]);
    const outcome = await runAttempt(
      resolved(async (ctx: Context) => {
        try {
          await ctx.run("flaky", () => {
            throw new Error("step broke");
          });
        } catch {
          // swallowed on purpose
        }
        return "looks fine";
      }),
      io,
    );
    assert.equal(outcome.type, "failed");
    assert.match((outcome as { message: string }).message, /step broke/);
    assert.deepEqual(proposals, []);
  });

  it("after a step failed with a plain error, a later ctx.run does not claim a journal mismatch", async () => {
    let later: unknown;
    const { io } = fakeIO([input(null)]);
    const outcome = await runAttempt(
      resolved(async (ctx: Context) => {
        try {
          await ctx.run("flaky", () => {
            throw new Error("step broke");
          });
        } catch {
          // swallowed on purpose
        }
        try {
          await ctx.run("next", () => 1);
        } catch (e) {
          later = e;
        }
        return "looks fine";
      }),
      io,
    );
    assert.deepEqual(outcome, { type: "failed", message: "Error: step broke" });
    assert.ok(later !== undefined, "the later step must not run");
    assert.equal(isJournalMismatchError(later), false, (later as Error).message);
  });

  it("ctx.run with {maxRetryAttempts: 3} retries the body in place, then journals a terminal failure", async () => {
    let tries = 0;
    const { io, proposals, sleeps } = fakeIO([input(null)]);
    const outcome = await runAttempt(
      resolved(async (ctx: Context) =>
        ctx.run(
          "flaky",
          () => {
            tries++;
            throw new Error(`try ${tries} failed`);
          },
          { maxRetryAttempts: 3 },
        ),
      ),
      io,
    );
    assert.equal(tries, 3);
    assert.deepEqual(sleeps, [50, 100]);
    assert.equal(proposals.length, 1);
    const entry = proposals[0]!.entry;
    assert.equal(entry.type === "run" && entry.name, "flaky");
    const err = entry.type === "run" && "err" in entry.result ? entry.result.err : undefined;
    assert.equal(err?.code, 500);
    assert.match(err?.message ?? "", /step 'flaky' failed after 3 tries/);
    assert.match(err?.message ?? "", /try 3 failed/);
    // Uncaught in the handler, the journaled failure ends the invocation with it.
    assert.deepEqual(outcome, { type: "end", result: { err } });
  });

  it("ctx.run retries grow by the factor up to the max interval, and stop at the first success", async () => {
    let tries = 0;
    const { io, proposals, sleeps } = fakeIO([input(null)]);
    const outcome = await runAttempt(
      resolved(async (ctx: Context) =>
        ctx.run(
          "eventually",
          () => {
            if (++tries < 5) throw new Error("not yet");
            return tries;
          },
          { maxRetryAttempts: 10, initialRetryInterval: 10, retryIntervalFactor: 3, maxRetryInterval: 50 },
        ),
      ),
      io,
    );
    assert.deepEqual(okOutput(outcome), 5);
    assert.deepEqual(sleeps, [10, 30, 50, 50]);
    assert.deepEqual(proposals, [{ index: 1, entry: ok("eventually", 5) }]);
  });
});

describe("runAttempt: deterministic context", () => {
  const draws = async (id: string, journal: JournalEntry[]) => {
    const { io } = fakeIO(journal, { id });
    return okOutput(
      await runAttempt(
        resolved(async (ctx: Context) => {
          await ctx.run("a", () => 1);
          return [ctx.rand.random(), ctx.rand.random(), ctx.rand.uuidv4()];
        }),
        io,
      ),
    ) as [number, number, string];
  };

  it("ctx.rand gives the same sequence for the same invocation id across attempts, another for another id", async () => {
    const first = await draws(ID, [input(null)]);
    const retry = await draws(ID, [input(null), ok("a", 1)]);
    const other = await draws(OTHER_ID, [input(null)]);
    assert.deepEqual(retry, first);
    assert.notDeepEqual(other, first);
    for (const r of [first[0], first[1], other[0]]) assert.ok(r >= 0 && r < 1);
    assert.notEqual(first[0], first[1]);
    assert.match(first[2], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("ctx.console is silent while replaying and speaks once past the journal", async () => {
    const fn = async (ctx: Context) => {
      ctx.console.log("before a");
      await ctx.run("a", () => 1);
      ctx.console.log("after a");
      await ctx.run("b", () => 2);
      ctx.console.info("after b");
      return "ok";
    };
    const replay = fakeIO([input(null), ok("a", 1), ok("b", 2)]);
    await runAttempt(resolved(fn), replay.io);
    const partial = fakeIO([input(null), ok("a", 1)]);
    await runAttempt(resolved(fn), partial.io);
    const fresh = fakeIO([input(null)]);
    await runAttempt(resolved(fn), fresh.io);
    assert.deepEqual(replay.logs, ["after b"]);
    assert.deepEqual(partial.logs, ["after a", "after b"]);
    assert.deepEqual(fresh.logs, ["before a", "after a", "after b"]);
  });

  it("ctx.date.now() and toJSON() are journaled: a replay returns the recorded values, not the clock's", async () => {
    const fn = async (ctx: Context) => [await ctx.date.now(), await ctx.date.toJSON()];
    const fresh = fakeIO([input(null)], { now: () => 1_700_000_000_000 });
    const first = okOutput(await runAttempt(resolved(fn), fresh.io));
    assert.deepEqual(first, [1_700_000_000_000, "2023-11-14T22:13:20.000Z"]);
    assert.deepEqual(fresh.proposals, [
      { index: 1, entry: ok("Date.now", 1_700_000_000_000) },
      { index: 2, entry: ok("Date.toJSON", "2023-11-14T22:13:20.000Z") },
    ]);
    const replay = fakeIO([input(null), ...fresh.proposals.map((p) => p.entry)], { now: () => 42 });
    assert.deepEqual(okOutput(await runAttempt(resolved(fn), replay.io)), first);
    assert.deepEqual(replay.proposals, []);
  });
});

describe("service()", () => {
  const fn = async () => "x";

  it("rejects bad service names with a TypeError naming the name", () => {
    for (const name of ["", "1abc", "has space", "a/b", "restate", "restateThing"]) {
      assert.throws(
        () => service({ name, handlers: { h: fn } }),
        (e: unknown) => e instanceof TypeError && e.message.includes(JSON.stringify(name)),
        name,
      );
    }
  });

  it("rejects bad handler names and handlers that are not functions", () => {
    assert.throws(() => service({ name: "Svc", handlers: { "bad name": fn } }), TypeError);
    assert.throws(
      () => service({ name: "Svc", handlers: { h: "nope" as unknown as ServiceHandler } }),
      (e: unknown) => e instanceof TypeError && /handler 'h' is not a function/.test(e.message),
    );
  });

  it("accepts good names and keeps the definition", () => {
    const def = service({ name: "_My.Svc-2", handlers: { do_it: fn }, description: "d" });
    assert.equal(def.name, "_My.Svc-2");
    assert.equal(def.kind, "service");
    assert.deepEqual(def.options, {});
    assert.equal(def.description, "d");
    assert.equal(def.handlers.do_it, fn);
  });
});

describe("resolveHandlers", () => {
  const fn = async () => "x";

  it("uses the defaults when nothing is set", () => {
    const [h] = resolveHandlers(service({ name: "Plain", handlers: { h: fn } }));
    assert.deepEqual(
      { ...h, fn: undefined, input: undefined, output: undefined },
      {
        service: "Plain",
        name: "h",
        kind: "service",
        fn: undefined,
        input: undefined,
        output: undefined,
        ingressPrivate: false,
        retryPolicy: {
          initialIntervalMs: DEFAULTS.initialIntervalMs,
          factor: DEFAULTS.factor,
          maxIntervalMs: DEFAULTS.maxIntervalMs,
          maxAttempts: DEFAULTS.maxAttempts,
          onMaxAttempts: DEFAULTS.onMaxAttempts,
        },
        idempotencyRetentionMs: DEFAULTS.idempotencyRetentionMs,
        journalRetentionMs: DEFAULTS.journalRetentionMs,
        inactivityTimeoutMs: DEFAULTS.inactivityTimeoutMs,
      },
    );
    assert.equal(h!.fn, fn);
    assert.equal(h!.input.contentType, "application/json");
  });

  it("handler options win over service options, which win over the defaults (retry policy field by field)", () => {
    const def = service({
      name: "Svc",
      options: {
        retryPolicy: { initialInterval: { seconds: 1 }, maxAttempts: 5, onMaxAttempts: "kill" },
        idempotencyRetention: { hours: 1 },
        journalRetention: 10_000,
        ingressPrivate: true,
      },
      handlers: {
        tuned: handlers.handler(
          {
            retryPolicy: { maxAttempts: 7, maxInterval: 2_000 },
            idempotencyRetention: 1_000,
            ingressPrivate: false,
          },
          fn,
        ),
        plain: fn,
        forever: handlers.handler({ retryPolicy: { maxAttempts: null } }, fn),
      },
    });
    const byName = new Map(resolveHandlers(def).map((h) => [h.name, h]));
    const tuned = byName.get("tuned")!;
    assert.deepEqual(tuned.retryPolicy, {
      initialIntervalMs: 1_000,
      factor: 2,
      maxIntervalMs: 2_000,
      maxAttempts: 7,
      onMaxAttempts: "kill",
    });
    assert.equal(tuned.idempotencyRetentionMs, 1_000);
    assert.equal(tuned.journalRetentionMs, 10_000);
    assert.equal(tuned.ingressPrivate, false);
    assert.equal(tuned.inactivityTimeoutMs, DEFAULTS.inactivityTimeoutMs);

    const plain = byName.get("plain")!;
    assert.deepEqual(plain.retryPolicy, {
      initialIntervalMs: 1_000,
      factor: 2,
      maxIntervalMs: 60_000,
      maxAttempts: 5,
      onMaxAttempts: "kill",
    });
    assert.equal(plain.idempotencyRetentionMs, 3_600_000);
    assert.equal(plain.ingressPrivate, true);

    assert.equal(byName.get("forever")!.retryPolicy.maxAttempts, null);
  });

  it("a handler's serdes replace the JSON default", async () => {
    const def = service({
      name: "Bin",
      handlers: {
        echo: handlers.handler(
          {
            input: {
              serialize: (v: Uint8Array) => v,
              deserialize: (b: Uint8Array) => b,
              contentType: "application/octet-stream",
            },
          },
          async (_ctx: Context, bytes: Uint8Array) => bytes.length,
        ),
      },
    });
    const [h] = resolveHandlers(def);
    assert.equal(h!.input.contentType, "application/octet-stream");
    const { io } = fakeIO([{ type: "input", argument: new Uint8Array([1, 2, 3]), headers: {} }]);
    assert.deepEqual(okOutput(await runAttempt(h!, io)), 3);
  });
});
