// Proves the SDK's journal state machine (startAttempt/runAttempt, attempt.ts invariants 1–6) replays, proposes in command order, settles futures by journal position, handles cancellation and suspension, and gives object/workflow contexts and clients the documented behaviour, by driving real handlers through a fake AttemptIO that plays apply's part; plus definition validation and option resolution.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  definitionParts,
  DEFAULTS,
  awakeableId,
  parseAwakeableId,
  resolveHandlers,
  runAttempt,
  startAttempt,
  type Applied,
  type AttemptHandle,
  type AttemptIO,
  type AttemptOutcome,
  type CommandEntry,
  type EagerState,
  type JournalEntry,
  type NotificationEntry,
  type ResolvedHandler,
  type Result,
} from "../../packages/sdk/src/internal/index.js";
import {
  RestatePromise,
  handlers,
  object,
  rpc,
  serde,
  service,
  workflow,
  type Context,
  type ObjectContext,
  type ObjectSharedContext,
  type ServiceHandler,
  type WorkflowContext,
  type WorkflowSharedContext,
} from "../../packages/sdk/src/index.js";
import {
  CancelledError,
  RetryableError,
  TerminalError,
  isCancelledError,
  isJournalMismatchError,
  isTerminalError,
  isTimeoutError,
} from "../../packages/sdk/src/internal/errors.js";

// ---------------------------------------------------------------------------------------------
// Helpers

const ID = "inv_1111111111111111aaaaaaaaaaaaaaaaaaaaaaaa";
const OTHER_ID = "inv_2222222222222222bbbbbbbbbbbbbbbbbbbbbbbb";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);
const enc = (v: unknown): Uint8Array => encoder.encode(JSON.stringify(v));
const dec = (b: Uint8Array): unknown => JSON.parse(decoder.decode(b));

const input = (v: unknown): JournalEntry => ({ type: "input", argument: enc(v), headers: { "x-test": "1" } });
const ok = (name: string, v: unknown): CommandEntry => ({ type: "run", name, result: { ok: enc(v) } });
const done = (commandIndex: number, v: unknown): NotificationEntry => ({
  type: "completion",
  commandIndex,
  result: { ok: v === undefined ? EMPTY : enc(v) },
});
const failedWith = (commandIndex: number, code: number, message: string): NotificationEntry => ({
  type: "completion",
  commandIndex,
  result: { err: { code, message } },
});
const AWK: CommandEntry = { type: "awakeable" };

/** The handler `Svc/h` as the engine sees it. */
function svc(fn: ServiceHandler): ResolvedHandler {
  return resolveHandlers(service({ name: "Svc", handlers: { h: fn } }))[0]!;
}
/** The exclusive handler `Counter/h`, or a shared one. */
function obj(fn: (ctx: ObjectContext, input: any) => Promise<unknown>): ResolvedHandler {
  return resolveHandlers(object({ name: "Counter", handlers: { h: fn } }))[0]!;
}
function objShared(fn: (ctx: ObjectSharedContext, input: any) => Promise<unknown>): ResolvedHandler {
  return resolveHandlers(object({ name: "Counter", handlers: { h: handlers.object.shared(fn) } }))[0]!;
}
/** The `run` handler of workflow `Signup`, or its shared handler `click`. */
function wfRun(fn: (ctx: WorkflowContext, input: any) => Promise<unknown>): ResolvedHandler {
  return resolveHandlers(workflow({ name: "Signup", handlers: { run: fn } })).find((h) => h.name === "run")!;
}
function wfShared(fn: (ctx: WorkflowSharedContext, input: any) => Promise<unknown>): ResolvedHandler {
  const def = workflow({ name: "Signup", handlers: { run: async () => undefined, click: fn } });
  return resolveHandlers(def).find((h) => h.name === "click")!;
}

// Definitions that typed clients name (only their types are used: calls go by name).
const _counterDef = object({
  name: "Counter",
  handlers: { add: async (_ctx: ObjectContext, n: number) => n },
});
const _greeterDef = service({
  name: "Greeter",
  handlers: { greet: async (_ctx: Context, name: string) => name },
});
const _signupDef = workflow({
  name: "Signup",
  handlers: { run: async (_ctx: WorkflowContext, input: { email: string } | string) => input },
});
const _mailerDef = service({ name: "Mailer", handlers: { send: async (_ctx: Context, to: string) => to } });
type Counter = typeof _counterDef;
type Greeter = typeof _greeterDef;
type Signup = typeof _signupDef;
type Mailer = typeof _mailerDef;

interface Proposal {
  readonly commandIndex: number;
  readonly entry: CommandEntry;
}

/** What apply fills into a proposed command (the defaults of this fake engine). */
function defaultFill(e: CommandEntry, commandIndex: number): CommandEntry {
  switch (e.type) {
    case "call":
    case "send":
      return { ...e, invocationId: `inv_cccccccccccccccc${String(commandIndex).padStart(24, "0")}` };
    case "get_state":
      return e.value === undefined ? { ...e, value: null } : e;
    case "get_state_keys":
      return e.keys === undefined ? { ...e, keys: [] } : e;
    case "promise_peek":
      return { ...e, result: null };
    case "promise_complete":
      return { ...e, outcome: { ok: EMPTY } };
    case "input":
    case "run":
    case "sleep":
    case "set_state":
    case "clear_state":
    case "clear_all_state":
    case "awakeable":
    case "complete_awakeable":
    case "promise_get":
    case "attach":
    case "cancel_invocation":
      return e;
  }
}

interface EngineOptions {
  id?: string;
  now?: () => number;
  /** Acks wait for `ack()`; else each proposal is applied at once. */
  manualAck?: boolean;
  key?: string;
  state?: EagerState;
  fill?: (e: CommandEntry, commandIndex: number) => CommandEntry;
}

/**
 * A fake engine side: keeps the journal as apply would (a proposal is appended when acked, a
 * notification when delivered), records proposals, counts step-retry sleeps, captures console
 * output.
 */
function fakeEngine(journal: readonly JournalEntry[], options: EngineOptions = {}) {
  const log: JournalEntry[] = [...journal];
  const proposals: Proposal[] = [];
  const pendingAcks: (() => void)[] = [];
  const sleeps: number[] = [];
  const logs: string[] = [];
  const fill = options.fill ?? defaultFill;
  let handle: AttemptHandle | undefined;
  const fakeConsole = {
    ...console,
    log: (...args: unknown[]) => logs.push(args.map(String).join(" ")),
    info: (...args: unknown[]) => logs.push(args.map(String).join(" ")),
  } as Console;
  const io: AttemptIO = {
    invocationId: options.id ?? ID,
    journal: [...journal],
    ...(options.key === undefined ? {} : { key: options.key }),
    ...(options.state === undefined ? {} : { state: options.state }),
    propose(commandIndex, entry) {
      proposals.push({ commandIndex, entry });
      const applyNow = (): Applied => {
        const applied = fill(entry, commandIndex);
        log.push(applied);
        return { entry: applied, position: log.length - 1 };
      };
      if (options.manualAck !== true) return Promise.resolve(applyNow());
      return new Promise<Applied>((resolve) => pendingAcks.push(() => resolve(applyNow())));
    },
    now: options.now ?? (() => 1_000),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    console: fakeConsole,
  };
  return {
    io,
    proposals,
    log,
    sleeps,
    logs,
    /** Applies and acks the oldest unacked proposal. */
    ack(): void {
      const next = pendingAcks.shift();
      assert.ok(next !== undefined, "no proposal to ack");
      next();
    },
    get unacked(): number {
      return pendingAcks.length;
    },
    start(handler: ResolvedHandler): AttemptHandle {
      handle = startAttempt(handler, io);
      return handle;
    },
    /** Appends a notification as apply would and delivers it to the running attempt. */
    notify(e: NotificationEntry): void {
      log.push(e);
      handle!.notify(e, log.length - 1);
    },
  };
}

/** Lets pending promise callbacks (and setImmediate turns) run. */
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

function okOutput(outcome: AttemptOutcome): unknown {
  assert.equal(outcome.type, "end", JSON.stringify(outcome));
  const result = (outcome as { result: Result }).result;
  assert.ok("ok" in result, JSON.stringify(result));
  return result.ok.length === 0 ? undefined : dec(result.ok);
}

function errOutput(outcome: AttemptOutcome): { code: number; message: string } {
  assert.equal(outcome.type, "end", JSON.stringify(outcome));
  const result = (outcome as { result: Result }).result;
  assert.ok("err" in result, JSON.stringify(result));
  return result.err;
}

function failedMessage(outcome: AttemptOutcome): string {
  assert.equal(outcome.type, "failed", JSON.stringify(outcome));
  return (outcome as { message: string }).message;
}

// ---------------------------------------------------------------------------------------------

describe("attempt: fresh runs and replays", () => {
  it("a fresh run proposes each step in command order and returns the output", async () => {
    const calls: string[] = [];
    const engine = fakeEngine([input(4)]);
    const outcome = await runAttempt(svc(twoSteps(calls)), engine.io);
    assert.deepEqual(okOutput(outcome), { a: 5, b: 50 });
    assert.deepEqual(calls, ["a", "b"]);
    assert.deepEqual(engine.proposals, [
      { commandIndex: 1, entry: ok("a", 5) },
      { commandIndex: 2, entry: ok("b", 50) },
    ]);
  });

  it("a replay with the full journal calls no step body, proposes nothing, and returns the same output", async () => {
    const calls: string[] = [];
    const engine = fakeEngine([input(4), ok("a", 5), ok("b", 50)]);
    const outcome = await runAttempt(svc(twoSteps(calls)), engine.io);
    assert.deepEqual(okOutput(outcome), { a: 5, b: 50 });
    assert.deepEqual(calls, []);
    assert.deepEqual(engine.proposals, []);
  });

  it("a partial journal replays the recorded steps (their recorded values) and runs only the new ones", async () => {
    const calls: string[] = [];
    // The journal says `a` returned 7 (not what the body would return now): replay must use 7.
    const engine = fakeEngine([input(4), ok("a", 7)]);
    const outcome = await runAttempt(svc(twoSteps(calls)), engine.io);
    assert.deepEqual(okOutput(outcome), { a: 7, b: 70 });
    assert.deepEqual(calls, ["b"]);
    assert.deepEqual(engine.proposals, [{ commandIndex: 2, entry: ok("b", 70) }]);
  });

  it("command indexes skip notifications: after a completion in the journal, the next command is still index 2", async () => {
    const engine = fakeEngine([input(null), AWK, done(1, "x")]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        const v = await ctx.awakeable<string>().promise;
        return ctx.run("next", () => v + "!");
      }),
      engine.io,
    );
    assert.deepEqual(okOutput(outcome), "x!");
    assert.deepEqual(engine.proposals, [{ commandIndex: 2, entry: ok("next", "x!") }]);
  });

  it("a step's promise resolves only once its entry is acknowledged", async () => {
    let after = false;
    const engine = fakeEngine([input(null)], { manualAck: true });
    const outcome = runAttempt(
      svc(async (ctx: Context) => {
        await ctx.run("a", () => 1);
        after = true;
        return "done";
      }),
      engine.io,
    );
    await ticks();
    assert.equal(engine.proposals.length, 1);
    assert.equal(after, false);
    engine.ack();
    assert.deepEqual(okOutput(await outcome), "done");
    assert.equal(after, true);
  });

  it("concurrent ctx.runs whose bodies finish out of order are proposed in command order", async () => {
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((r) => (releaseSlow = r));
    let fastDone = false;
    const engine = fakeEngine([input(null)]);
    const outcome = runAttempt(
      svc(async (ctx: Context) =>
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
      engine.io,
    );
    await ticks();
    assert.equal(fastDone, true);
    assert.deepEqual(engine.proposals, [], "nothing may be proposed before command 1 is");
    releaseSlow();
    assert.deepEqual(okOutput(await outcome), ["s", "f", "f2"]);
    assert.deepEqual(engine.proposals, [
      { commandIndex: 1, entry: ok("slow", "s") },
      { commandIndex: 2, entry: ok("fast", "f") },
      { commandIndex: 3, entry: ok("fast2", "f2") },
    ]);
  });

  it("commands issued without awaiting (set after a running step) wait for the step's turn, and the outcome waits for them", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const engine = fakeEngine([input(null)], { key: "k", state: { values: new Map(), complete: true } });
    const handle = engine.start(
      obj(async (ctx: ObjectContext) => {
        void ctx.run("slow", async () => {
          await gate;
          return 1;
        });
        ctx.set("after", true);
        return "returned";
      }),
    );
    await ticks();
    assert.equal(engine.proposals.length, 0);
    let ended = false;
    void handle.outcome.then(() => (ended = true));
    await ticks();
    assert.equal(ended, false, "the outcome must wait for every issued command (invariant 6)");
    release();
    assert.deepEqual(okOutput(await handle.outcome), "returned");
    assert.deepEqual(
      engine.proposals.map((p) => [p.commandIndex, p.entry.type]),
      [
        [1, "run"],
        [2, "set_state"],
      ],
    );
  });

  it("a journal without an input entry fails the attempt", async () => {
    const outcome = await runAttempt(
      svc(async () => "x"),
      fakeEngine([]).io,
    );
    assert.match(failedMessage(outcome), /journal has no input entry/);
  });

  it("invalid JSON input ends the invocation with code 400 without calling the handler", async () => {
    let called = false;
    const engine = fakeEngine([{ type: "input", argument: encoder.encode("{not json"), headers: {} }]);
    const outcome = await runAttempt(
      svc(async () => {
        called = true;
        return 1;
      }),
      engine.io,
    );
    assert.equal(called, false);
    const err = errOutput(outcome);
    assert.equal(err.code, 400);
    assert.match(err.message, /handler Svc\/h/);
  });

  it("the handler sees its input, headers and invocation id through ctx.request()", async () => {
    const outcome = await runAttempt(
      svc(async (ctx: Context, arg: { n: number }) => {
        const req = ctx.request();
        return { arg, id: req.id, header: req.headers.get("x-test"), body: dec(req.body) };
      }),
      fakeEngine([input({ n: 1 })]).io,
    );
    assert.deepEqual(okOutput(outcome), { arg: { n: 1 }, id: ID, header: "1", body: { n: 1 } });
  });
});

describe("attempt: journal mismatch (invariant 2)", () => {
  it("ctx.run('b') where the journal has Run 'a' fails, naming handler, command index and both sides", async () => {
    let bodyRan = false;
    const engine = fakeEngine([input(null), ok("a", 1)]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => ctx.run("b", () => ((bodyRan = true), 2))),
      engine.io,
    );
    const message = failedMessage(outcome);
    assert.match(
      message,
      /^JournalMismatchError \[OL0001\]: handler Svc\/h: journal mismatch at command 1: expected Run 'a', got Run 'b'/,
    );
    assert.equal(bodyRan, false);
    assert.deepEqual(engine.proposals, []);
  });

  it("another command type, another call target, another state key: each is a mismatch naming both sides", async () => {
    const cases: {
      journal: CommandEntry;
      fn: (ctx: ObjectContext) => PromiseLike<unknown>;
      expected: RegExp;
    }[] = [
      {
        journal: { type: "sleep", wakeUpAt: 5 },
        fn: (ctx) => ctx.run("x", () => 1),
        expected: /command 1: expected Sleep, got Run 'x'/,
      },
      {
        journal: {
          type: "call",
          target: { service: "Counter", handler: "add", key: "k1" },
          argument: EMPTY,
          headers: {},
        },
        fn: (ctx) => ctx.objectClient<Counter>({ name: "Counter" }, "k2").add(1),
        expected: /command 1: expected Call Counter\/k1\/add, got Call Counter\/k2\/add/,
      },
      {
        journal: { type: "get_state", key: "a", value: null },
        fn: (ctx) => ctx.get("b"),
        expected: /command 1: expected GetState 'a', got GetState 'b'/,
      },
    ];
    for (const c of cases) {
      const engine = fakeEngine([input(null), c.journal], {
        key: "k",
        state: { values: new Map(), complete: true },
      });
      const message = failedMessage(
        await runAttempt(
          obj(async (ctx) => c.fn(ctx)),
          engine.io,
        ),
      );
      assert.match(message, /handler Counter\/h/);
      assert.match(message, c.expected);
      assert.deepEqual(engine.proposals, []);
    }
  });

  it("the index in the message counts commands, not journal positions", async () => {
    const engine = fakeEngine([input(null), AWK, done(1, "v"), ok("a", 1)]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        await ctx.awakeable().promise;
        return ctx.run("b", () => 2);
      }),
      engine.io,
    );
    assert.match(failedMessage(outcome), /journal mismatch at command 2: expected Run 'a', got Run 'b'/);
  });

  it("a handler that returns early, leaving journaled commands unreplayed, fails", async () => {
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        await ctx.run("a", () => 1);
        return "early";
      }),
      fakeEngine([input(null), ok("a", 1), ok("b", 2)]).io,
    );
    const message = failedMessage(outcome);
    assert.match(message, /handler Svc\/h/);
    assert.match(message, /command 2: expected Run 'b', but the handler returned/);
  });

  it("a handler that catches the mismatch error still fails", async () => {
    let caught: unknown;
    const engine = fakeEngine([input(null), ok("a", 1)]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        try {
          await ctx.run("b", () => 2);
        } catch (e) {
          caught = e;
        }
        return "swallowed";
      }),
      engine.io,
    );
    assert.ok(isJournalMismatchError(caught));
    assert.match(failedMessage(outcome), /journal mismatch at command 1/);
    assert.deepEqual(engine.proposals, []);
  });
});

describe("attempt: errors", () => {
  it("a TerminalError thrown by the handler ends the invocation with err {code, message}", async () => {
    const outcome = await runAttempt(
      svc(async () => {
        throw new TerminalError("amount must be positive", { errorCode: 422 });
      }),
      fakeEngine([input(null)]).io,
    );
    assert.deepEqual(outcome, {
      type: "end",
      result: { err: { code: 422, message: "amount must be positive" } },
    });
    const dflt = await runAttempt(
      svc(async () => {
        throw new TerminalError("nope");
      }),
      fakeEngine([input(null)]).io,
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
    const fresh = fakeEngine([input(null)]);
    assert.deepEqual(okOutput(await runAttempt(svc(fn), fresh.io)), "refused 402: card declined");
    const journaled: CommandEntry = {
      type: "run",
      name: "charge",
      result: { err: { code: 402, message: "card declined" } },
    };
    assert.deepEqual(fresh.proposals, [{ commandIndex: 1, entry: journaled }]);

    const replay = fakeEngine([input(null), journaled]);
    assert.deepEqual(okOutput(await runAttempt(svc(fn), replay.io)), "refused 402: card declined");
    assert.deepEqual(calls, ["charge"]);
    assert.deepEqual(replay.proposals, []);
  });

  it("a plain Error fails the attempt (retryable), without a retryAfterMs", async () => {
    const outcome = await runAttempt(
      svc(async () => {
        throw new Error("db down");
      }),
      fakeEngine([input(null)]).io,
    );
    assert.deepEqual(outcome, { type: "failed", message: "Error: db down" });
  });

  it("a RetryableError with retryAfter fails the attempt with retryAfterMs", async () => {
    const outcome = await runAttempt(
      svc(async () => {
        throw new RetryableError("rate limited", { retryAfter: { seconds: 2, milliseconds: 500 } });
      }),
      fakeEngine([input(null)]).io,
    );
    assert.deepEqual(outcome, {
      type: "failed",
      message: "RetryableError: rate limited",
      retryAfterMs: 2_500,
    });
    const noAfter = await runAttempt(
      svc(async () => {
        throw new RetryableError("later");
      }),
      fakeEngine([input(null)]).io,
    );
    assert.deepEqual(noAfter, { type: "failed", message: "RetryableError: later" });
  });

  it("a step throwing a plain error fails the attempt even if the handler catches it; nothing is journaled (invariant 3)", async () => {
    const engine = fakeEngine([input(null)]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        try {
          await ctx.run("flaky", () => {
            throw new Error("step broke");
          });
        } catch {
          // swallowed on purpose
        }
        return "looks fine";
      }),
      engine.io,
    );
    assert.match(failedMessage(outcome), /step broke/);
    assert.deepEqual(engine.proposals, []);
  });

  it("after a step failed with a plain error, a later ctx.run does not claim a journal mismatch", async () => {
    let later: unknown;
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
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
      fakeEngine([input(null)]).io,
    );
    assert.deepEqual(outcome, { type: "failed", message: "Error: step broke" });
    assert.ok(later !== undefined, "the later step must not run");
    assert.equal(isJournalMismatchError(later), false, (later as Error).message);
  });

  it("ctx.run with {maxRetryAttempts: 3} retries the body in place, then journals a terminal failure", async () => {
    let tries = 0;
    const engine = fakeEngine([input(null)]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) =>
        ctx.run(
          "flaky",
          () => {
            tries++;
            throw new Error(`try ${tries} failed`);
          },
          { maxRetryAttempts: 3 },
        ),
      ),
      engine.io,
    );
    assert.equal(tries, 3);
    assert.deepEqual(engine.sleeps, [50, 100]);
    assert.equal(engine.proposals.length, 1);
    const entry = engine.proposals[0]!.entry;
    assert.equal(entry.type === "run" && entry.name, "flaky");
    const err = entry.type === "run" && "err" in entry.result ? entry.result.err : undefined;
    assert.equal(err?.code, 500);
    // The step's own last message, as in Restate (not a wrapper sentence).
    assert.equal(err?.message, "try 3 failed");
    // Uncaught in the handler, the journaled failure ends the invocation with it.
    assert.deepEqual(outcome, { type: "end", result: { err } });
  });

  it("ctx.run retries grow by the factor up to the max interval, and stop at the first success", async () => {
    let tries = 0;
    const engine = fakeEngine([input(null)]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) =>
        ctx.run(
          "eventually",
          () => {
            if (++tries < 5) throw new Error("not yet");
            return tries;
          },
          { maxRetryAttempts: 10, initialRetryInterval: 10, retryIntervalFactor: 3, maxRetryInterval: 50 },
        ),
      ),
      engine.io,
    );
    assert.deepEqual(okOutput(outcome), 5);
    assert.deepEqual(engine.sleeps, [10, 30, 50, 50]);
    assert.deepEqual(engine.proposals, [{ commandIndex: 1, entry: ok("eventually", 5) }]);
  });

  it("ctx.run with maxRetryDuration stops once the next wait would pass it", async () => {
    let now = 0;
    let tries = 0;
    const engine = fakeEngine([input(null)], { now: () => now });
    engine.io.sleep = async (ms) => {
      engine.sleeps.push(ms);
      now += ms;
    };
    const outcome = await runAttempt(
      svc(async (ctx: Context) =>
        ctx.run(
          "slowly",
          () => {
            tries++;
            throw new Error("no");
          },
          { maxRetryDuration: 300, initialRetryInterval: 100, retryIntervalFactor: 1 },
        ),
      ),
      engine.io,
    );
    // Tries at 0, 100, 200, 300 ms: a fourth wait would end at 400 > 300.
    assert.deepEqual(engine.sleeps, [100, 100, 100]);
    assert.equal(tries, 4);
    assert.equal(errOutput(outcome).message, "no");
  });
});

describe("attempt: deterministic context", () => {
  const draws = async (id: string, journal: JournalEntry[]) => {
    const engine = fakeEngine(journal, { id });
    return okOutput(
      await runAttempt(
        svc(async (ctx: Context) => {
          await ctx.run("a", () => 1);
          return [ctx.rand.random(), ctx.rand.random(), ctx.rand.uuidv4()];
        }),
        engine.io,
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
    const replay = fakeEngine([input(null), ok("a", 1), ok("b", 2)]);
    await runAttempt(svc(fn), replay.io);
    const partial = fakeEngine([input(null), ok("a", 1)]);
    await runAttempt(svc(fn), partial.io);
    const fresh = fakeEngine([input(null)]);
    await runAttempt(svc(fn), fresh.io);
    assert.deepEqual(replay.logs, ["after b"]);
    assert.deepEqual(partial.logs, ["after a", "after b"]);
    assert.deepEqual(fresh.logs, ["before a", "after a", "after b"]);
  });

  it("ctx.date.now() and toJSON() are journaled: a replay returns the recorded values, not the clock's", async () => {
    const fn = async (ctx: Context) => [await ctx.date.now(), await ctx.date.toJSON()];
    const fresh = fakeEngine([input(null)], { now: () => 1_700_000_000_000 });
    const first = okOutput(await runAttempt(svc(fn), fresh.io));
    assert.deepEqual(first, [1_700_000_000_000, "2023-11-14T22:13:20.000Z"]);
    assert.deepEqual(fresh.proposals, [
      { commandIndex: 1, entry: ok("Date.now", 1_700_000_000_000) },
      { commandIndex: 2, entry: ok("Date.toJSON", "2023-11-14T22:13:20.000Z") },
    ]);
    const replay = fakeEngine([input(null), ...fresh.proposals.map((p) => p.entry)], { now: () => 42 });
    assert.deepEqual(okOutput(await runAttempt(svc(fn), replay.io)), first);
    assert.deepEqual(replay.proposals, []);
  });

  it("ctx.sleep journals its wake-up time from io.now()", async () => {
    const engine = fakeEngine([input(null)], { now: () => 5_000 });
    const handle = engine.start(svc(async (ctx: Context) => ctx.sleep({ seconds: 2 })));
    await ticks();
    assert.deepEqual(engine.proposals, [{ commandIndex: 1, entry: { type: "sleep", wakeUpAt: 7_000 } }]);
    engine.notify(done(1, undefined));
    assert.deepEqual(okOutput(await handle.outcome), undefined);
  });
});

describe("attempt: notifications (invariant 4)", () => {
  /** Two awakeables; records which settles first; returns the order. */
  const twoAwakeables = async (ctx: Context) => {
    const order: string[] = [];
    const a = ctx.awakeable<string>().promise.then((v) => order.push(`a=${v}`));
    const b = ctx.awakeable<string>().promise.then((v) => order.push(`b=${v}`));
    await Promise.all([a, b]);
    return order;
  };

  it("live notifications settle futures in the order they are delivered (journal order)", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(svc(twoAwakeables));
    await ticks();
    assert.deepEqual(
      engine.proposals.map((p) => p.commandIndex),
      [1, 2],
    );
    engine.notify(done(2, "second command"));
    engine.notify(done(1, "first command"));
    assert.deepEqual(okOutput(await handle.outcome), ["b=second command", "a=first command"]);
  });

  it("replayed notifications run the handler's continuations in journal order, as on the first attempt", async () => {
    const engine = fakeEngine([input(null), AWK, AWK, done(2, "y"), done(1, "x")]);
    const outcome = await runAttempt(svc(twoAwakeables), engine.io);
    assert.deepEqual(okOutput(outcome), ["b=y", "a=x"]);
    assert.deepEqual(engine.proposals, []);
  });

  it("a replay of the journal a first attempt wrote takes the same path (no journal mismatch)", async () => {
    const fn = async (ctx: Context) => {
      const a = ctx.awakeable<string>().promise.then((v) => ctx.run("after-a", () => v));
      const b = ctx.awakeable<string>().promise.then((v) => ctx.run("after-b", () => v));
      return Promise.all([a, b]);
    };
    const live = fakeEngine([input(null)]);
    const handle = live.start(svc(fn));
    await ticks();
    live.notify(done(2, "B"));
    live.notify(done(1, "A"));
    assert.deepEqual(okOutput(await handle.outcome), ["A", "B"]);
    assert.deepEqual(
      live.proposals.map((p) => p.entry),
      [AWK, AWK, ok("after-b", "B"), ok("after-a", "A")],
    );
    // A crash, a retry or a suspension replays exactly this journal.
    const replay = fakeEngine(live.log);
    const outcome = await runAttempt(svc(fn), replay.io);
    assert.deepEqual(okOutput(outcome), ["A", "B"]);
    assert.deepEqual(replay.proposals, []);
  });

  it("a failed completion rejects the future with a TerminalError carrying its code", async () => {
    const engine = fakeEngine([input(null), AWK, failedWith(1, 418, "teapot")]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        try {
          await ctx.awakeable().promise;
          return "no";
        } catch (e) {
          return isTerminalError(e) ? [e.code, e.message] : String(e);
        }
      }),
      engine.io,
    );
    assert.deepEqual(okOutput(outcome), [418, "teapot"]);
  });

  it("a live notification for a journaled command the replay has not reached yet is not lost", async () => {
    const engine = fakeEngine([input(null), { type: "sleep", wakeUpAt: 1_010 }]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        // A deterministic local async step (not journaled) before the journaled sleep.
        await new Promise<void>((r) => setImmediate(r));
        await ctx.sleep(10);
        return "woke";
      }),
    );
    engine.notify(done(1, undefined));
    await ticks();
    const settled = await Promise.race([handle.outcome, ticks(5).then(() => "still waiting")]);
    assert.deepEqual(settled, { type: "end", result: { ok: enc("woke") } });
  });
});

describe("attempt: race by journal position", () => {
  const raceOf = (order: "ab" | "ba") => async (ctx: Context) => {
    const a = ctx.awakeable<string>().promise;
    const b = ctx.awakeable<string>().promise;
    return RestatePromise.race(order === "ab" ? [a, b] : [b, a]);
  };

  it("live: the future whose completion is journaled first wins", async () => {
    for (const [first, expected] of [
      [2, "B"],
      [1, "A"],
    ] as const) {
      const engine = fakeEngine([input(null)]);
      const handle = engine.start(svc(raceOf("ab")));
      await ticks();
      engine.notify(done(first, first === 1 ? "A" : "B"));
      engine.notify(done(first === 1 ? 2 : 1, first === 1 ? "B" : "A"));
      assert.deepEqual(okOutput(await handle.outcome), expected);
    }
  });

  it("replay with both completions journaled: the lower position wins, whatever the array order", async () => {
    for (const order of ["ab", "ba"] as const) {
      const bFirst = fakeEngine([input(null), AWK, AWK, done(2, "B"), done(1, "A")]);
      assert.deepEqual(
        okOutput(await runAttempt(svc(raceOf(order)), bFirst.io)),
        "B",
        `B first, order ${order}`,
      );
      const aFirst = fakeEngine([input(null), AWK, AWK, done(1, "A"), done(2, "B")]);
      assert.deepEqual(
        okOutput(await runAttempt(svc(raceOf(order)), aFirst.io)),
        "A",
        `A first, order ${order}`,
      );
      assert.deepEqual([...bFirst.proposals, ...aFirst.proposals], []);
    }
  });

  it("live: a command's ack and a later completion performed in the same processor batch are seen in journal order", async () => {
    const fn = async (ctx: Context) => {
      const awk = ctx.awakeable<string>();
      const r = ctx.run("r", () => "ran");
      return RestatePromise.race([r, awk.promise]);
    };
    const engine = fakeEngine([input(null)], { manualAck: true });
    const handle = engine.start(svc(fn));
    await ticks();
    engine.ack(); // the awakeable, position 1
    await ticks();
    // One batch: the run is acked at position 2, then the awakeable completes at position 3.
    engine.ack();
    engine.notify(done(1, "awk"));
    const live = okOutput(await handle.outcome);
    assert.deepEqual(
      engine.log.map((e) => e.type),
      ["input", "awakeable", "run", "completion"],
    );
    const replay = okOutput(await runAttempt(svc(fn), fakeEngine(engine.log).io));
    assert.equal(replay, "ran");
    assert.equal(live, replay);
  });

  it("a race's failure is the earliest completion's failure", async () => {
    const engine = fakeEngine([input(null), AWK, AWK, failedWith(2, 400, "B failed"), done(1, "A")]);
    const outcome = await runAttempt(svc(raceOf("ab")), engine.io);
    assert.deepEqual(errOutput(outcome), { code: 400, message: "B failed" });
  });
});

describe("attempt: orTimeout", () => {
  const withTimeout = async (ctx: Context) => {
    try {
      return await ctx.awakeable<string>().promise.orTimeout({ seconds: 5 });
    } catch (e) {
      return isTimeoutError(e) ? `timeout ${e.code}` : `other ${String(e)}`;
    }
  };

  it("journals a sleep after the awaited command; the sleep's completion first gives a TimeoutError", async () => {
    const engine = fakeEngine([input(null)], { now: () => 10_000 });
    const handle = engine.start(svc(withTimeout));
    await ticks();
    assert.deepEqual(engine.proposals, [
      { commandIndex: 1, entry: AWK },
      { commandIndex: 2, entry: { type: "sleep", wakeUpAt: 15_000 } },
    ]);
    engine.notify(done(2, undefined));
    engine.notify(done(1, "late"));
    assert.deepEqual(okOutput(await handle.outcome), "timeout 408");
  });

  it("the awaited command's completion first gives its value", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(svc(withTimeout));
    await ticks();
    engine.notify(done(1, "in time"));
    assert.deepEqual(okOutput(await handle.outcome), "in time");
  });

  it("on replay the journal decides, whatever the clock says", async () => {
    const sleep: CommandEntry = { type: "sleep", wakeUpAt: 6_000 };
    const timedOut = fakeEngine([input(null), AWK, sleep, done(2, undefined), done(1, "v")]);
    assert.deepEqual(okOutput(await runAttempt(svc(withTimeout), timedOut.io)), "timeout 408");
    const inTime = fakeEngine([input(null), AWK, sleep, done(1, "v"), done(2, undefined)]);
    assert.deepEqual(okOutput(await runAttempt(svc(withTimeout), inTime.io)), "v");
  });

  it("an uncaught TimeoutError ends the invocation with code 408", async () => {
    const engine = fakeEngine([input(null), AWK, { type: "sleep", wakeUpAt: 1 }, done(2, undefined)]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => ctx.awakeable().promise.orTimeout(1)),
      engine.io,
    );
    assert.equal(errOutput(outcome).code, 408);
  });
});

describe("attempt: RestatePromise.all / any / allSettled", () => {
  const three = (ctx: Context) => [1, 2, 3].map(() => ctx.awakeable<string>().promise);

  it("all: values in argument order once all completed; the earliest journaled failure rejects", async () => {
    const fine = fakeEngine([input(null), AWK, AWK, AWK, done(3, "c"), done(1, "a"), done(2, "b")]);
    assert.deepEqual(
      okOutput(
        await runAttempt(
          svc(async (ctx: Context) => RestatePromise.all(three(ctx))),
          fine.io,
        ),
      ),
      ["a", "b", "c"],
    );
    const bad = fakeEngine([
      input(null),
      AWK,
      AWK,
      AWK,
      done(1, "a"),
      failedWith(3, 400, "third"),
      failedWith(2, 401, "second"),
    ]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => RestatePromise.all(three(ctx))),
      bad.io,
    );
    assert.deepEqual(errOutput(outcome), { code: 400, message: "third" });
  });

  it("any: the earliest journaled success; AggregateError when all failed", async () => {
    const engine = fakeEngine([
      input(null),
      AWK,
      AWK,
      AWK,
      failedWith(1, 500, "x"),
      done(3, "c"),
      done(2, "b"),
    ]);
    assert.deepEqual(
      okOutput(
        await runAttempt(
          svc(async (ctx: Context) => RestatePromise.any(three(ctx))),
          engine.io,
        ),
      ),
      "c",
    );
    const allBad = fakeEngine([
      input(null),
      AWK,
      AWK,
      AWK,
      failedWith(1, 500, "x"),
      failedWith(2, 500, "y"),
      failedWith(3, 500, "z"),
    ]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        try {
          return await RestatePromise.any(three(ctx));
        } catch (e) {
          return e instanceof AggregateError ? e.errors.map((x: Error) => x.message) : String(e);
        }
      }),
      allBad.io,
    );
    assert.deepEqual(okOutput(outcome), ["x", "y", "z"]);
  });

  it("allSettled: every outcome in argument order", async () => {
    const engine = fakeEngine([
      input(null),
      AWK,
      AWK,
      AWK,
      done(2, "b"),
      failedWith(1, 409, "no"),
      done(3, "c"),
    ]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        const settled = await RestatePromise.allSettled(three(ctx));
        return settled.map((s) =>
          s.status === "fulfilled" ? s.value : `rejected ${(s.reason as TerminalError).code}`,
        );
      }),
      engine.io,
    );
    assert.deepEqual(okOutput(outcome), ["rejected 409", "b", "c"]);
  });

  it("combinators over steps and sleeps work live too", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) =>
        RestatePromise.all([ctx.run("a", () => 1), ctx.sleep(5).map(() => "slept")]),
      ),
    );
    await ticks();
    engine.notify(done(2, undefined));
    assert.deepEqual(okOutput(await handle.outcome), [1, "slept"]);
  });
});

describe("attempt: cancellation (invariant 5)", () => {
  it("a cancel_signal rejects the pending applied future with CancelledError; uncaught it ends with 409 Cancelled", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(svc(async (ctx: Context) => ctx.awakeable().promise));
    await ticks();
    engine.notify({ type: "cancel_signal" });
    assert.deepEqual(errOutput(await handle.outcome), { code: 409, message: "Cancelled" });
  });

  it("it rejects every pending applied future, and not the ones already completed", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        const a = ctx.awakeable<string>().promise;
        const s = ctx.sleep(1_000);
        const c = ctx.awakeable<string>().promise;
        const settled = await RestatePromise.allSettled([a, s, c]);
        return settled.map((r) =>
          r.status === "fulfilled" ? r.value : isCancelledError(r.reason) ? "cancelled" : "?",
        );
      }),
    );
    await ticks();
    engine.notify(done(3, "c"));
    engine.notify({ type: "cancel_signal" });
    assert.deepEqual(okOutput(await handle.outcome), ["cancelled", "cancelled", "c"]);
  });

  it("the handler can catch CancelledError and run compensation steps", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        try {
          await ctx.awakeable().promise;
          return "approved";
        } catch (e) {
          if (!isCancelledError(e)) throw e;
          await ctx.run("refund", () => "refunded");
          throw e;
        }
      }),
    );
    await ticks();
    engine.notify({ type: "cancel_signal" });
    assert.deepEqual(errOutput(await handle.outcome), { code: 409, message: "Cancelled" });
    assert.deepEqual(engine.proposals.at(-1), { commandIndex: 2, entry: ok("refund", "refunded") });
  });

  it("with nothing pending, it rejects the next completable command once applied; steps are not affected", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        const step = await ctx.run("work", async () => {
          await gate;
          return "worked";
        });
        const after = await ctx.run("more", () => "more");
        try {
          await ctx.sleep(1_000);
          return "slept";
        } catch (e) {
          return [step, after, isCancelledError(e) ? "cancelled" : String(e)];
        }
      }),
    );
    await ticks();
    engine.notify({ type: "cancel_signal" });
    release();
    assert.deepEqual(okOutput(await handle.outcome), ["worked", "more", "cancelled"]);
    assert.deepEqual(
      engine.proposals.map((p) => p.entry.type),
      ["run", "run", "sleep"],
    );
  });

  it("on replay, a journaled cancel_signal rejects the same future", async () => {
    const cancelled = fakeEngine([input(null), AWK, { type: "cancel_signal" }]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => ctx.awakeable().promise),
      cancelled.io,
    );
    assert.deepEqual(errOutput(outcome), { code: 409, message: "Cancelled" });
    // Cancelled before the sleep was journaled: the sleep (applied after it) is the one rejected.
    const early = fakeEngine([
      input(null),
      ok("a", 1),
      { type: "cancel_signal" },
      { type: "sleep", wakeUpAt: 9 },
    ]);
    const out2 = await runAttempt(
      svc(async (ctx: Context) => {
        await ctx.run("a", () => 1);
        await ctx.sleep(5);
        return "slept";
      }),
      early.io,
    );
    assert.deepEqual(errOutput(out2), { code: 409, message: "Cancelled" });
  });

  it("a journaled 409 'Cancelled' failure (a cancelled callee) surfaces as CancelledError", async () => {
    const engine = fakeEngine([input(null), AWK, failedWith(1, 409, "Cancelled")]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        try {
          return await ctx.awakeable().promise;
        } catch (e) {
          return isCancelledError(e) && e instanceof CancelledError;
        }
      }),
      engine.io,
    );
    assert.deepEqual(okOutput(outcome), true);
  });
});

describe("attempt: waitingOn() (when it may suspend)", () => {
  it("undefined while a step runs, while a proposal is not acked; the pending commands once all is acked", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const engine = fakeEngine([input(null)], { manualAck: true });
    const handle = engine.start(
      svc(async (ctx: Context) => {
        await ctx.run("step", async () => {
          await gate;
          return 1;
        });
        return RestatePromise.race([ctx.awakeable<string>().promise, ctx.sleep(1_000)]);
      }),
    );
    await ticks();
    assert.equal(handle.waitingOn(), undefined, "a step runs");
    release();
    await ticks();
    assert.equal(engine.unacked, 1);
    assert.equal(handle.waitingOn(), undefined, "the step's entry is not acked");
    engine.ack();
    await ticks();
    assert.equal(engine.unacked, 2);
    assert.equal(handle.waitingOn(), undefined, "the awakeable and the sleep are not acked");
    engine.ack();
    await ticks();
    assert.equal(handle.waitingOn(), undefined, "the sleep is not acked");
    engine.ack();
    await ticks();
    assert.deepEqual(handle.waitingOn(), [2, 3]);
    engine.notify(done(2, "A"));
    assert.deepEqual(okOutput(await handle.outcome), "A");
  });

  it("only the commands still pending: a completed one is left out", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        const a = ctx.awakeable<string>().promise;
        const b = ctx.awakeable<string>().promise;
        return [await a, await b];
      }),
    );
    await ticks();
    assert.deepEqual(handle.waitingOn(), [1, 2]);
    engine.notify(done(1, "a"));
    await ticks();
    assert.deepEqual(handle.waitingOn(), [2]);
    engine.notify(done(2, "b"));
    assert.deepEqual(okOutput(await handle.outcome), ["a", "b"]);
  });

  it("undefined when the handler waits for nothing journaled", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async () => {
        await gate;
        return 1;
      }),
    );
    await ticks();
    assert.equal(handle.waitingOn(), undefined);
    release();
    await handle.outcome;
  });

  it("on a replayed journal, the commands journaled without completion", async () => {
    const engine = fakeEngine([input(null), AWK, { type: "sleep", wakeUpAt: 3 }, done(1, "a")]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        const a = ctx.awakeable<string>().promise;
        const s = ctx.sleep(2);
        await Promise.all([a, s]);
        return "both";
      }),
    );
    await ticks();
    assert.deepEqual(handle.waitingOn(), [2]);
    assert.deepEqual(engine.proposals, []);
    engine.notify(done(2, undefined));
    assert.deepEqual(okOutput(await handle.outcome), "both");
  });
});

describe("attempt: object contexts", () => {
  const eager = (values: Record<string, unknown>, complete = true): EagerState => ({
    values: new Map(Object.entries(values).map(([k, v]) => [k, enc(v)])),
    complete,
  });

  it("ctx.key is the object key", async () => {
    const engine = fakeEngine([input(null)], { key: "acct-7", state: eager({}) });
    assert.deepEqual(
      okOutput(
        await runAttempt(
          obj(async (ctx) => ctx.key),
          engine.io,
        ),
      ),
      "acct-7",
    );
  });

  it("get with complete eager state answers without a round trip and journals the value it read", async () => {
    const engine = fakeEngine([input(null)], { key: "k", state: eager({ count: 5 }), manualAck: true });
    const handle = engine.start(
      obj(async (ctx) => [await ctx.get<number>("count"), await ctx.get("missing")]),
    );
    await ticks();
    assert.equal(engine.unacked, 2, "both gets are proposed and not acked");
    engine.ack();
    engine.ack();
    assert.deepEqual(okOutput(await handle.outcome), [5, null]);
    assert.deepEqual(engine.proposals, [
      { commandIndex: 1, entry: { type: "get_state", key: "count", value: enc(5) } },
      { commandIndex: 2, entry: { type: "get_state", key: "missing", value: null } },
    ]);
  });

  it("get resolves before its ack when the state is known (no round trip)", async () => {
    let got: unknown = "nothing yet";
    const engine = fakeEngine([input(null)], { key: "k", state: eager({ count: 5 }), manualAck: true });
    const handle = engine.start(
      obj(async (ctx) => {
        got = await ctx.get<number>("count");
        return got;
      }),
    );
    await ticks();
    assert.equal(got, 5);
    engine.ack();
    await handle.outcome;
  });

  it("get with incomplete eager state and an unknown key: apply fills the value, the future waits for the ack", async () => {
    let got: unknown = "nothing yet";
    const engine = fakeEngine([input(null)], {
      key: "k",
      state: eager({ other: 1 }, false),
      manualAck: true,
      fill: (e) => (e.type === "get_state" ? { ...e, value: enc(42) } : e),
    });
    const handle = engine.start(
      obj(async (ctx) => {
        got = await ctx.get<number>("count");
        // The second read of the key is known now: no round trip, and the same value.
        return [got, await ctx.get<number>("count"), await ctx.get<number>("other")];
      }),
    );
    await ticks();
    assert.deepEqual(engine.proposals, [{ commandIndex: 1, entry: { type: "get_state", key: "count" } }]);
    assert.equal(got, "nothing yet");
    engine.ack();
    await ticks();
    assert.equal(got, 42);
    engine.ack();
    engine.ack();
    assert.deepEqual(okOutput(await handle.outcome), [42, 42, 1]);
    assert.deepEqual(engine.proposals.slice(1), [
      { commandIndex: 2, entry: { type: "get_state", key: "count", value: enc(42) } },
      { commandIndex: 3, entry: { type: "get_state", key: "other", value: enc(1) } },
    ]);
  });

  it("without eager state every get is lazy", async () => {
    const engine = fakeEngine([input(null)], { key: "k" });
    await runAttempt(
      obj(async (ctx) => ctx.get("x")),
      engine.io,
    );
    assert.deepEqual(engine.proposals, [{ commandIndex: 1, entry: { type: "get_state", key: "x" } }]);
  });

  it("set, clear and clearAll are journaled and read back locally", async () => {
    const engine = fakeEngine([input(null)], { key: "k", state: eager({ a: 1, b: 2 }, false) });
    const outcome = await runAttempt(
      obj(async (ctx) => {
        ctx.set("a", 10);
        const a = await ctx.get<number>("a");
        ctx.clear("b");
        const b = await ctx.get<number>("b");
        ctx.clearAll();
        const afterAll = [await ctx.get("a"), await ctx.get("zzz"), await ctx.stateKeys()];
        return [a, b, afterAll];
      }),
      engine.io,
    );
    assert.deepEqual(okOutput(outcome), [10, null, [null, null, []]]);
    assert.deepEqual(
      engine.proposals.map((p) => p.entry),
      [
        { type: "set_state", key: "a", value: enc(10) },
        { type: "get_state", key: "a", value: enc(10) },
        { type: "clear_state", key: "b" },
        { type: "get_state", key: "b", value: null },
        { type: "clear_all_state" },
        { type: "get_state", key: "a", value: null },
        { type: "get_state", key: "zzz", value: null },
        { type: "get_state_keys", keys: [] },
      ],
    );
  });

  it("stateKeys: from complete eager state (sorted, cleared ones left out), else filled by apply", async () => {
    const local = fakeEngine([input(null)], { key: "k", state: eager({ zeta: 1, alpha: 2, mid: 3 }) });
    const keys = await runAttempt(
      obj(async (ctx) => {
        ctx.clear("mid");
        return ctx.stateKeys();
      }),
      local.io,
    );
    assert.deepEqual(okOutput(keys), ["alpha", "zeta"]);
    assert.deepEqual(local.proposals.at(-1)?.entry, { type: "get_state_keys", keys: ["alpha", "zeta"] });

    const lazy = fakeEngine([input(null)], {
      key: "k",
      state: eager({}, false),
      fill: (e) => (e.type === "get_state_keys" ? { ...e, keys: ["from", "store"] } : e),
    });
    assert.deepEqual(
      okOutput(
        await runAttempt(
          obj(async (ctx) => ctx.stateKeys()),
          lazy.io,
        ),
      ),
      ["from", "store"],
    );
    assert.deepEqual(lazy.proposals, [{ commandIndex: 1, entry: { type: "get_state_keys" } }]);
  });

  it("on replay, the journaled value wins over the eager state", async () => {
    const engine = fakeEngine([input(null), { type: "get_state", key: "count", value: enc(7) }], {
      key: "k",
      state: eager({ count: 9 }),
    });
    const outcome = await runAttempt(
      obj(async (ctx) => {
        const v = await ctx.get<number>("count");
        return ctx.run("double", () => (v ?? 0) * 2);
      }),
      engine.io,
    );
    assert.deepEqual(okOutput(outcome), 14);
  });

  it("a shared handler reads state but set/clear/clearAll throw a TerminalError and propose nothing", async () => {
    for (const write of [
      (ctx: ObjectContext) => ctx.set("a", 1),
      (ctx: ObjectContext) => ctx.clear("a"),
      (ctx: ObjectContext) => ctx.clearAll(),
    ]) {
      let thrown: unknown;
      const engine = fakeEngine([input(null)], { key: "k", state: eager({ a: 1 }) });
      const outcome = await runAttempt(
        objShared(async (ctx) => {
          const a = await ctx.get<number>("a");
          try {
            write(ctx as ObjectContext);
          } catch (e) {
            thrown = e;
          }
          return a;
        }),
        engine.io,
      );
      assert.deepEqual(okOutput(outcome), 1);
      assert.ok(isTerminalError(thrown), String(thrown));
      assert.match(
        (thrown as Error).message,
        /handler Counter\/h: ctx\.(set|clear|clearAll) is not allowed here \(shared handlers read state only\)/,
      );
      assert.deepEqual(
        engine.proposals.map((p) => p.entry.type),
        ["get_state"],
      );
    }
  });

  it("an uncaught write in a shared handler ends the invocation with that TerminalError", async () => {
    const engine = fakeEngine([input(null)], { key: "k", state: eager({}) });
    const outcome = await runAttempt(
      objShared(async (ctx) => {
        (ctx as ObjectContext).set("a", 1);
        return "unreachable";
      }),
      engine.io,
    );
    assert.equal(errOutput(outcome).code, 500);
  });

  it("a service context has no state methods and no key", async () => {
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        const c = ctx as unknown as Record<string, unknown>;
        return [c.get, c.set, c.key, c.promise].map((x) => typeof x);
      }),
      fakeEngine([input(null)]).io,
    );
    assert.deepEqual(okOutput(outcome), ["undefined", "undefined", "undefined", "undefined"]);
  });
});

describe("attempt: workflow contexts and durable promises", () => {
  it("promise(name).get() proposes promise_get and resolves with the completion's value", async () => {
    const engine = fakeEngine([input(null)], { key: "wf1", state: { values: new Map(), complete: true } });
    const handle = engine.start(wfRun(async (ctx) => ctx.promise<string>("clicked").get()));
    await ticks();
    assert.deepEqual(engine.proposals, [
      { commandIndex: 1, entry: { type: "promise_get", name: "clicked" } },
    ]);
    engine.notify(done(1, "yes"));
    assert.deepEqual(okOutput(await handle.outcome), "yes");
  });

  it("awaiting the durable promise itself waits for it; a rejected promise throws its TerminalError", async () => {
    const engine = fakeEngine([input(null), { type: "promise_get", name: "p" }, failedWith(1, 500, "nope")]);
    const outcome = await runAttempt(
      wfRun(async (ctx) => {
        try {
          return await ctx.promise<string>("p");
        } catch (e) {
          return isTerminalError(e) ? `rejected: ${e.message}` : String(e);
        }
      }),
      engine.io,
    );
    assert.deepEqual(okOutput(outcome), "rejected: nope");
  });

  it("peek: undefined while unresolved, the value once resolved (filled by apply)", async () => {
    const none = fakeEngine([input(null)]);
    assert.deepEqual(
      okOutput(
        await runAttempt(
          wfShared(async (ctx) => (await ctx.promise("p").peek()) ?? "none"),
          none.io,
        ),
      ),
      "none",
    );
    assert.deepEqual(none.proposals, [{ commandIndex: 1, entry: { type: "promise_peek", name: "p" } }]);
    const some = fakeEngine([input(null)], {
      fill: (e) => (e.type === "promise_peek" ? { ...e, result: { ok: enc("v") } } : e),
    });
    assert.deepEqual(
      okOutput(
        await runAttempt(
          wfShared(async (ctx) => ctx.promise("p").peek()),
          some.io,
        ),
      ),
      "v",
    );
  });

  it("resolve and reject propose promise_complete; an outcome error (already completed) throws a 409 TerminalError", async () => {
    const engine = fakeEngine([input(null)]);
    assert.deepEqual(
      okOutput(
        await runAttempt(
          wfShared(async (ctx) => {
            await ctx.promise<string>("clicked").resolve("secret");
            await ctx.promise("failed").reject("went wrong");
            return "ok";
          }),
          engine.io,
        ),
      ),
      "ok",
    );
    assert.deepEqual(
      engine.proposals.map((p) => p.entry),
      [
        { type: "promise_complete", name: "clicked", result: { ok: enc("secret") } },
        { type: "promise_complete", name: "failed", result: { err: { code: 500, message: "went wrong" } } },
      ],
    );
    const twice = fakeEngine([input(null)], {
      fill: (e) =>
        e.type === "promise_complete"
          ? { ...e, outcome: { err: { code: 409, message: "promise 'clicked' was already completed" } } }
          : e,
    });
    const outcome = await runAttempt(
      wfShared(async (ctx) => ctx.promise<string>("clicked").resolve("again")),
      twice.io,
    );
    assert.deepEqual(errOutput(outcome), { code: 409, message: "promise 'clicked' was already completed" });
  });

  it("the workflow run may write state; its shared handlers may not", async () => {
    const run = fakeEngine([input(null)], { key: "wf1", state: { values: new Map(), complete: true } });
    await runAttempt(
      wfRun(async (ctx) => {
        ctx.set("stage", "started");
        return ctx.key;
      }),
      run.io,
    );
    assert.deepEqual(run.proposals[0]?.entry, { type: "set_state", key: "stage", value: enc("started") });
    const shared = fakeEngine([input(null)], { key: "wf1" });
    const outcome = await runAttempt(
      wfShared(async (ctx) => {
        (ctx as unknown as WorkflowContext).set("stage", "hacked");
        return "no";
      }),
      shared.io,
    );
    assert.match(errOutput(outcome).message, /ctx\.set is not allowed here/);
    assert.deepEqual(shared.proposals, []);
  });
});

describe("attempt: clients", () => {
  it("objectClient(...).add(1) proposes a call with target, JSON argument and no workflow flag; resolves with the callee's output", async () => {
    const engine = fakeEngine([input(null)]);
    let calleeId: string | undefined;
    const handle = engine.start(
      svc(async (ctx: Context) => {
        const p = ctx.objectClient<Counter>({ name: "Counter" }, "k").add(1);
        calleeId = await p.invocationId;
        return p;
      }),
    );
    await ticks();
    assert.deepEqual(engine.proposals, [
      {
        commandIndex: 1,
        entry: {
          type: "call",
          target: { service: "Counter", handler: "add", key: "k" },
          argument: enc(1),
          headers: {},
        },
      },
    ]);
    assert.equal(
      calleeId,
      (defaultFill(engine.proposals[0]!.entry, 1) as { invocationId: string }).invocationId,
    );
    engine.notify(done(1, 2));
    assert.deepEqual(okOutput(await handle.outcome), 2);
  });

  it("serviceClient has no key; workflowClient sets workflow: true; rpc.opts adds idempotency key and headers", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        const a = ctx
          .serviceClient<Greeter>({ name: "Greeter" })
          .greet("Ada", rpc.opts({ idempotencyKey: "g1", headers: { h: "v" } }));
        const b = ctx.workflowClient<Signup>({ name: "Signup" }, "wf1").run({ email: "a@b" });
        return RestatePromise.all([a, b]);
      }),
    );
    await ticks();
    assert.deepEqual(
      engine.proposals.map((p) => p.entry),
      [
        {
          type: "call",
          target: { service: "Greeter", handler: "greet" },
          argument: enc("Ada"),
          headers: { h: "v" },
          idempotencyKey: "g1",
        },
        {
          type: "call",
          target: { service: "Signup", handler: "run", key: "wf1" },
          argument: enc({ email: "a@b" }),
          headers: {},
          workflow: true,
        },
      ],
    );
    engine.notify(done(2, "signed"));
    engine.notify(done(1, "hi"));
    assert.deepEqual(okOutput(await handle.outcome), ["hi", "signed"]);
  });

  it("a call's failure surfaces as a TerminalError with the callee's code", async () => {
    const engine = fakeEngine([
      input(null),
      { type: "call", target: { service: "Greeter", handler: "greet" }, argument: enc("Ada"), headers: {} },
      failedWith(1, 404, "unknown handler Greeter/greet"),
    ]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => ctx.serviceClient<Greeter>({ name: "Greeter" }).greet("Ada")),
      engine.io,
    );
    assert.deepEqual(errOutput(outcome), { code: 404, message: "unknown handler Greeter/greet" });
  });

  it("send clients propose sends; rpc.sendOpts({delay}) gives delayMs, per call or as the client's default", async () => {
    const engine = fakeEngine([input(null)]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        const h1 = ctx
          .objectSendClient<Counter>({ name: "Counter" }, "k")
          .add(1, rpc.sendOpts({ delay: 5_000 }));
        ctx.serviceSendClient<Mailer>({ name: "Mailer" }, rpc.sendOpts({ delay: { seconds: 2 } })).send("x");
        ctx.workflowSendClient<Signup>({ name: "Signup" }, "wf1").run("now");
        return h1.invocationId;
      }),
      engine.io,
    );
    assert.deepEqual(
      engine.proposals.map((p) => p.entry),
      [
        {
          type: "send",
          target: { service: "Counter", handler: "add", key: "k" },
          argument: enc(1),
          headers: {},
          delayMs: 5_000,
        },
        {
          type: "send",
          target: { service: "Mailer", handler: "send" },
          argument: enc("x"),
          headers: {},
          delayMs: 2_000,
        },
        {
          type: "send",
          target: { service: "Signup", handler: "run", key: "wf1" },
          argument: enc("now"),
          headers: {},
          workflow: true,
        },
      ],
    );
    assert.deepEqual(
      okOutput(outcome),
      (defaultFill(engine.proposals[0]!.entry, 1) as { invocationId: string }).invocationId,
    );
  });

  it("a lone rpc.sendOpts / rpc.opts (handler without input) is the options, not the input", async () => {
    // Restate recognises the options object in any position. Taken as the input, a delayed
    // self-send would fire at once and a self-rescheduling job would loop.
    const _tickerDef = object({ name: "Ticker", handlers: { tick: async (_ctx: ObjectContext) => 1 } });
    type Ticker = typeof _tickerDef;
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        ctx.objectSendClient<Ticker>({ name: "Ticker" }, "t").tick(rpc.sendOpts({ delay: { seconds: 5 } }));
        return ctx
          .objectClient<Ticker>({ name: "Ticker" }, "t")
          .tick(rpc.opts({ idempotencyKey: "once", headers: { h: "v" } }));
      }),
    );
    await ticks();
    assert.deepEqual(
      engine.proposals.map((p) => p.entry),
      [
        {
          type: "send",
          target: { service: "Ticker", handler: "tick", key: "t" },
          argument: EMPTY,
          headers: {},
          delayMs: 5_000,
        },
        {
          type: "call",
          target: { service: "Ticker", handler: "tick", key: "t" },
          argument: EMPTY,
          headers: { h: "v" },
          idempotencyKey: "once",
        },
      ],
    );
    engine.notify(done(2, 1));
    assert.equal(okOutput(await handle.outcome), 1);
  });

  it("genericCall and genericSend take bytes by default", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        ctx.genericSend({ service: "Raw", method: "put", parameter: new Uint8Array([1, 2]), delay: 10 });
        const out = await ctx.genericCall({
          service: "Raw",
          method: "get",
          key: "k",
          parameter: new Uint8Array([3]),
        });
        return [...out];
      }),
    );
    await ticks();
    assert.deepEqual(
      engine.proposals.map((p) => p.entry),
      [
        {
          type: "send",
          target: { service: "Raw", handler: "put" },
          argument: new Uint8Array([1, 2]),
          headers: {},
          delayMs: 10,
        },
        {
          type: "call",
          target: { service: "Raw", handler: "get", key: "k" },
          argument: new Uint8Array([3]),
          headers: {},
        },
      ],
    );
    engine.notify({ type: "completion", commandIndex: 2, result: { ok: new Uint8Array([9, 8]) } });
    assert.deepEqual(okOutput(await handle.outcome), [9, 8]);
  });

  it("a client is not a thenable: returning one from an async helper issues no call", async () => {
    const engine = fakeEngine([input(null)]);
    const greeterOf = async (ctx: Context) => ctx.serviceClient<Greeter>({ name: "Greeter" });
    const handle = engine.start(
      svc(async (ctx: Context) => {
        const greeter = await greeterOf(ctx);
        return typeof greeter.greet;
      }),
    );
    const settled = await Promise.race([handle.outcome, ticks(5).then(() => "still waiting")]);
    assert.deepEqual(engine.proposals, []);
    assert.deepEqual(settled, { type: "end", result: { ok: enc("function") } });
  });

  it("attach and cancel propose their commands", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        ctx.cancel(OTHER_ID);
        return ctx.attach<string>(OTHER_ID);
      }),
    );
    await ticks();
    assert.deepEqual(
      engine.proposals.map((p) => p.entry),
      [
        { type: "cancel_invocation", invocationId: OTHER_ID },
        { type: "attach", invocationId: OTHER_ID },
      ],
    );
    engine.notify(done(2, "their output"));
    assert.deepEqual(okOutput(await handle.outcome), "their output");
  });
});

describe("attempt: awakeables", () => {
  it("the awakeable id names the invocation and the command, and parses back", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        await ctx.run("first", () => 1);
        const { id, promise } = ctx.awakeable<string>();
        return [id, await promise];
      }),
    );
    await ticks();
    engine.notify(done(2, "resolved"));
    const [id, value] = okOutput(await handle.outcome) as [string, string];
    assert.equal(value, "resolved");
    assert.equal(id, awakeableId(ID, 2));
    assert.match(id, /^awk_1111111111111111aaaaaaaaaaaaaaaaaaaaaaaa2$/);
    assert.deepEqual(parseAwakeableId(id), { invocationId: ID, commandIndex: 2 });
  });

  it("awakeableId / parseAwakeableId round-trip for large indexes and reject malformed ids", () => {
    for (const k of [0, 1, 35, 36, 1_000, 2_000_000_000]) {
      assert.deepEqual(parseAwakeableId(awakeableId(OTHER_ID, k)), {
        invocationId: OTHER_ID,
        commandIndex: k,
      });
    }
    for (const bad of [
      "",
      "awk_",
      "awk_xyz",
      `inv_${"a".repeat(40)}1`,
      `awk_${"a".repeat(39)}`,
      `awk_${"A".repeat(40)}1`,
    ]) {
      assert.equal(parseAwakeableId(bad), undefined, bad);
    }
  });

  it("resolveAwakeable / rejectAwakeable propose complete_awakeable with the result", async () => {
    const id = awakeableId(OTHER_ID, 3);
    const engine = fakeEngine([input(null)]);
    await runAttempt(
      svc(async (ctx: Context) => {
        ctx.resolveAwakeable(id, { ok: true });
        ctx.rejectAwakeable(id, "declined");
        ctx.resolveAwakeable(id, new Uint8Array([7]), serde.binary);
        return "sent";
      }),
      engine.io,
    );
    assert.deepEqual(
      engine.proposals.map((p) => p.entry),
      [
        { type: "complete_awakeable", awakeableId: id, result: { ok: enc({ ok: true }) } },
        { type: "complete_awakeable", awakeableId: id, result: { err: { code: 500, message: "declined" } } },
        { type: "complete_awakeable", awakeableId: id, result: { ok: new Uint8Array([7]) } },
      ],
    );
  });
});

describe("definitions", () => {
  const fn = async () => "x";

  it("service() rejects bad service names with a TypeError naming the name", () => {
    for (const name of ["", "1abc", "has space", "a/b", "restate", "restateThing"]) {
      assert.throws(
        () => service({ name, handlers: { h: fn } }),
        (e: unknown) => e instanceof TypeError && e.message.includes(JSON.stringify(name)),
        name,
      );
    }
  });

  it("service() rejects bad handler names and handlers that are not functions", () => {
    assert.throws(() => service({ name: "Svc", handlers: { "bad name": fn } }), TypeError);
    assert.throws(
      () => service({ name: "Svc", handlers: { h: "nope" as unknown as ServiceHandler } }),
      (e: unknown) => e instanceof TypeError && /handler 'h' is not a function/.test(e.message),
    );
  });

  it("service() accepts good names and keeps the definition", () => {
    const def = service({ name: "_My.Svc-2", handlers: { do_it: fn }, description: "d" });
    assert.equal(def.name, "_My.Svc-2");
    assert.equal(definitionParts(def).kind, "service");
    assert.deepEqual(definitionParts(def).options, {});
    assert.equal(definitionParts(def).description, "d");
    assert.equal(definitionParts(def).handlers.do_it, fn);
  });

  it("object(): handlers are exclusive unless wrapped as shared", () => {
    const def = object({
      name: "Counter",
      handlers: { add: fn, peek: handlers.object.shared(fn), reset: handlers.object.exclusive(fn) },
    });
    assert.equal(definitionParts(def).kind, "object");
    const kinds = Object.fromEntries(resolveHandlers(def).map((h) => [h.name, [h.serviceKind, h.kind]]));
    assert.deepEqual(kinds, {
      add: ["object", "exclusive"],
      peek: ["object", "shared"],
      reset: ["object", "exclusive"],
    });
  });

  it("workflow(): run is the workflow handler, the others are shared; a workflow without run is refused", () => {
    const def = workflow({
      name: "Signup",
      handlers: { run: fn, click: fn },
      options: { workflowRetention: { hours: 2 } },
    });
    const byName = new Map(resolveHandlers(def).map((h) => [h.name, h]));
    assert.deepEqual([byName.get("run")?.serviceKind, byName.get("run")?.kind], ["workflow", "workflow"]);
    assert.equal(byName.get("click")?.kind, "shared");
    assert.equal(byName.get("run")?.idempotencyRetentionMs, 7_200_000);
    assert.equal(byName.get("click")?.idempotencyRetentionMs, DEFAULTS.idempotencyRetentionMs);
    assert.throws(
      () => workflow({ name: "NoRun", handlers: { click: fn } }),
      (e: unknown) => e instanceof TypeError && /workflow NoRun: it needs a 'run' handler/.test(e.message),
    );
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
        serviceKind: "service",
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
    const engine = fakeEngine([{ type: "input", argument: new Uint8Array([1, 2, 3]), headers: {} }]);
    assert.deepEqual(okOutput(await runAttempt(h!, engine.io)), 3);
  });
});
