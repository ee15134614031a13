// Proves the SDK's journal state machine (startAttempt/runAttempt, attempt.ts invariants 1–7) replays, proposes commands in issue order, settles futures only from notifications at their journal position, re-runs steps journaled without a result, handles cancellation and suspension, and gives object/workflow contexts and clients the documented behaviour, by driving real handlers through a fake AttemptIO that plays apply's part; plus definition validation and option resolution.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CANCEL_SIGNAL_ID,
  definitionParts,
  DEFAULTS,
  FIRST_AWAKEABLE_SIGNAL_ID,
  VOID,
  awakeableId,
  isAwakeableId,
  parseAwakeableId,
  protocolAwakeableId,
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
  type NotificationValue,
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

/** The signal ids of the first, second and third awakeable of an attempt. */
const AWK_1 = FIRST_AWAKEABLE_SIGNAL_ID;
const AWK_2 = FIRST_AWAKEABLE_SIGNAL_ID + 1;
const AWK_3 = FIRST_AWAKEABLE_SIGNAL_ID + 2;

const input = (v: unknown): JournalEntry => ({ type: "input", argument: enc(v), headers: { "x-test": "1" } });
/** A Run command (its result is a separate completion). */
const run = (name: string, completionId: number): CommandEntry => ({ type: "run", name, completionId });
/** A completion with a JSON value; `undefined` gives void (a timer that fired). */
const done = (completionId: number, v: unknown): NotificationEntry => ({
  type: "completion",
  completionId,
  value: v === undefined ? VOID : { ok: enc(v) },
});
const failedWith = (completionId: number, code: number, message: string): NotificationEntry => ({
  type: "completion",
  completionId,
  value: { err: { code, message } },
});
/** A step journaled with its result: its Run command and its completion, to spread into a journal. */
const ran = (name: string, completionId: number, v: unknown): [CommandEntry, NotificationEntry] => [
  run(name, completionId),
  done(completionId, v),
];
/** An awakeable resolved with a JSON value. */
const signal = (signalId: number, v: unknown): NotificationEntry => ({
  type: "signal",
  signalId,
  value: { ok: enc(v) },
});
const signalFailed = (signalId: number, code: number, message: string): NotificationEntry => ({
  type: "signal",
  signalId,
  value: { err: { code, message } },
});
/** The cancel signal as apply appends it. */
const CANCEL: NotificationEntry = { type: "signal", signalId: CANCEL_SIGNAL_ID, value: VOID };
const sleepAt = (wakeUpAt: number, completionId: number): CommandEntry => ({
  type: "sleep",
  wakeUpAt,
  completionId,
});
/** The invocation id the fake engine gives the callee of command `commandIndex`. */
const calleeOf = (commandIndex: number): string =>
  `inv_cccccccccccccccc${String(commandIndex).padStart(24, "0")}`;

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

/** A step result the attempt proposed. */
interface RunCompletion {
  readonly completionId: number;
  readonly result: Result;
}

interface EngineOptions {
  id?: string;
  now?: () => number;
  /**
   * Commands and step results are applied only on `ack()` / `finish(id)`, in the order the test
   * chooses; else each is applied as soon as it is proposed.
   */
  manualAck?: boolean;
  key?: string;
  state?: EagerState;
  /** What the store holds for lazily read state (JSON values); a key not here is absent. */
  stored?: Record<string, unknown>;
  /** Durable promises that already have a result: get and peek return it, complete fails (409). */
  promises?: Record<string, Result>;
}

/** What apply notifies right after journaling a command (what it can tell at once). */
function notificationsAfter(
  e: CommandEntry,
  commandIndex: number,
  options: EngineOptions,
): NotificationEntry[] {
  const completion = (completionId: number, value: NotificationValue): NotificationEntry[] => [
    { type: "completion", completionId, value },
  ];
  switch (e.type) {
    case "call":
    case "send":
      return completion(e.invocationIdCompletionId, { invocationId: calleeOf(commandIndex) });
    case "get_state": {
      if (e.completionId === undefined) return [];
      const v = options.stored?.[e.key];
      return completion(e.completionId, v === undefined ? VOID : { ok: enc(v) });
    }
    case "get_state_keys":
      return e.completionId === undefined
        ? []
        : completion(e.completionId, { stateKeys: Object.keys(options.stored ?? {}) });
    case "promise_get": {
      const result = options.promises?.[e.name];
      return result === undefined ? [] : completion(e.completionId, result);
    }
    case "promise_peek":
      return completion(e.completionId, options.promises?.[e.name] ?? VOID);
    case "promise_complete":
      return completion(
        e.completionId,
        options.promises?.[e.name] === undefined
          ? VOID
          : { err: { code: 409, message: `promise '${e.name}' was already completed` } },
      );
    case "input":
    case "run":
    case "sleep":
    case "set_state":
    case "clear_state":
    case "clear_all_state":
    case "complete_awakeable":
    case "attach":
    case "attach_target":
    case "get_output":
    case "send_named_signal":
    case "cancel_invocation":
      return [];
  }
}

/**
 * A fake engine side playing apply's part: keeps the journal as apply would (a command is
 * appended when applied, followed by what apply notifies at once; a step result is appended as
 * the Run command's completion), delivers notifications to the running attempt, records
 * proposals and step results, counts step-retry sleeps, captures console output.
 */
function fakeEngine(journal: readonly JournalEntry[], options: EngineOptions = {}) {
  const log: JournalEntry[] = [...journal];
  const proposals: Proposal[] = [];
  const completions: RunCompletion[] = [];
  /** Proposals not yet applied (manualAck): commands, and step results (with their id). */
  const queue: { completionId?: number; apply: () => void }[] = [];
  const sleeps: number[] = [];
  const logs: string[] = [];
  let handle: AttemptHandle | undefined;
  const fakeConsole = {
    ...console,
    log: (...args: unknown[]) => logs.push(args.map(String).join(" ")),
    info: (...args: unknown[]) => logs.push(args.map(String).join(" ")),
  } as Console;
  /** Appends a notification and delivers it to the attempt. */
  const append = (entry: NotificationEntry): void => {
    log.push(entry);
    const position = log.length - 1;
    // A microtask later: the attempt may propose from inside `startAttempt`, before `start` has its handle.
    queueMicrotask(() => {
      assert.ok(handle !== undefined, "a live notification needs engine.start (runAttempt has no handle)");
      handle.notify(entry, position);
    });
  };
  const io: AttemptIO = {
    invocationId: options.id ?? ID,
    journal: [...journal],
    ...(options.key === undefined ? {} : { key: options.key }),
    ...(options.state === undefined ? {} : { state: options.state }),
    propose(commandIndex, entry) {
      proposals.push({ commandIndex, entry });
      const apply = (): Applied => {
        log.push(entry);
        const position = log.length - 1;
        for (const n of notificationsAfter(entry, commandIndex, options)) append(n);
        return { position };
      };
      if (options.manualAck !== true) return Promise.resolve(apply());
      return new Promise<Applied>((resolve) => queue.push({ apply: () => resolve(apply()) }));
    },
    proposeRunCompletion(completionId, result) {
      completions.push({ completionId, result });
      const apply = () => append({ type: "completion", completionId, value: result });
      if (options.manualAck !== true) return Promise.resolve(apply());
      return new Promise<void>((resolve) => queue.push({ completionId, apply: () => resolve(apply()) }));
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
    completions,
    log,
    sleeps,
    logs,
    /** Applies the oldest unapplied proposal (a command, or a step result). */
    ack(): void {
      const next = queue.shift();
      assert.ok(next !== undefined, "no proposal to ack");
      next.apply();
    },
    /** Applies the proposed result of the step with `completionId`, ahead of older proposals. */
    finish(completionId: number): void {
      const i = queue.findIndex((q) => q.completionId === completionId);
      assert.ok(i >= 0, `no proposed result for completion ${completionId}`);
      queue.splice(i, 1)[0]!.apply();
    },
    /** Proposals not yet applied (manualAck). */
    get unacked(): number {
      return queue.length;
    },
    start(handler: ResolvedHandler): AttemptHandle {
      handle = startAttempt(handler, io);
      return handle;
    },
    /** Starts an attempt that gets live notifications; resolves with its outcome. */
    run(handler: ResolvedHandler): Promise<AttemptOutcome> {
      return this.start(handler).outcome;
    },
    /** Appends a notification as apply would and delivers it to the running attempt. */
    notify(e: NotificationEntry): void {
      log.push(e);
      assert.ok(handle !== undefined, "notify needs engine.start");
      handle.notify(e, log.length - 1);
    },
  };
}

/** Lets pending promise callbacks (and setImmediate turns) run. */
const ticks = async (n = 20) => {
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

/** A journaled call of Greeter/greet("Ada") (completion ids 1 and 2) and its callee-id notification. */
function greetCalled(): JournalEntry[] {
  return [
    {
      type: "call",
      target: { service: "Greeter", handler: "greet" },
      argument: enc("Ada"),
      headers: {},
      invocationIdCompletionId: 1,
      resultCompletionId: 2,
    },
    { type: "completion", completionId: 1, value: { invocationId: calleeOf(1) } },
  ];
}

describe("attempt: fresh runs and replays", () => {
  it("a fresh run proposes each Run command in command order, then its result, and returns the output", async () => {
    const calls: string[] = [];
    const engine = fakeEngine([input(4)]);
    const outcome = await engine.run(svc(twoSteps(calls)));
    assert.deepEqual(okOutput(outcome), { a: 5, b: 50 });
    assert.deepEqual(calls, ["a", "b"]);
    assert.deepEqual(engine.proposals, [
      { commandIndex: 1, entry: run("a", 1) },
      { commandIndex: 2, entry: run("b", 2) },
    ]);
    assert.deepEqual(engine.completions, [
      { completionId: 1, result: { ok: enc(5) } },
      { completionId: 2, result: { ok: enc(50) } },
    ]);
    assert.deepEqual(engine.log, [input(4), ...ran("a", 1, 5), ...ran("b", 2, 50)]);
  });

  it("a replay with the full journal calls no step body, proposes nothing, and returns the same output", async () => {
    const calls: string[] = [];
    const engine = fakeEngine([input(4), ...ran("a", 1, 5), ...ran("b", 2, 50)]);
    const outcome = await runAttempt(svc(twoSteps(calls)), engine.io);
    assert.deepEqual(okOutput(outcome), { a: 5, b: 50 });
    assert.deepEqual(calls, []);
    assert.deepEqual(engine.proposals, []);
    assert.deepEqual(engine.completions, []);
  });

  it("a partial journal replays the recorded steps (their recorded values) and runs only the new ones", async () => {
    const calls: string[] = [];
    // The journal says `a` returned 7 (not what the body would return now): replay must use 7.
    const engine = fakeEngine([input(4), ...ran("a", 1, 7)]);
    const outcome = await engine.run(svc(twoSteps(calls)));
    assert.deepEqual(okOutput(outcome), { a: 7, b: 70 });
    assert.deepEqual(calls, ["b"]);
    assert.deepEqual(engine.proposals, [{ commandIndex: 2, entry: run("b", 2) }]);
    assert.deepEqual(engine.completions, [{ completionId: 2, result: { ok: enc(70) } }]);
  });

  it("command indexes and completion ids skip notifications, and an awakeable takes neither", async () => {
    const engine = fakeEngine([input(null), sleepAt(1_001, 1), signal(AWK_1, "x"), done(1, undefined)]);
    const outcome = await engine.run(
      svc(async (ctx: Context) => {
        const awk = ctx.awakeable<string>();
        await ctx.sleep(1);
        const v = await awk.promise;
        return ctx.run("next", () => v + "!");
      }),
    );
    assert.deepEqual(okOutput(outcome), "x!");
    assert.deepEqual(engine.proposals, [{ commandIndex: 2, entry: run("next", 2) }]);
  });

  it("a step's promise resolves only once its result is notified, not on its Run command's ack (invariant 1)", async () => {
    let after = false;
    const engine = fakeEngine([input(null)], { manualAck: true });
    const handle = engine.start(
      svc(async (ctx: Context) => {
        await ctx.run("a", () => 1);
        after = true;
        return "done";
      }),
    );
    await ticks();
    assert.deepEqual(engine.proposals, [{ commandIndex: 1, entry: run("a", 1) }]);
    assert.deepEqual(engine.completions, [{ completionId: 1, result: { ok: enc(1) } }]);
    assert.equal(engine.unacked, 2, "the Run command and its result are both waiting to be applied");
    engine.ack(); // the Run command
    await ticks();
    assert.equal(after, false, "an ack settles nothing");
    engine.ack(); // the step's result, as the Run command's completion
    assert.deepEqual(okOutput(await handle.outcome), "done");
    assert.equal(after, true);
  });

  it("concurrent ctx.runs: Run commands are proposed in issue order at once, results as their bodies finish", async () => {
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((r) => (releaseSlow = r));
    const calls: string[] = [];
    const fn = async (ctx: Context) =>
      Promise.all([
        ctx.run("slow", async () => {
          calls.push("slow");
          await slowGate;
          return "s";
        }),
        ctx.run("fast", () => (calls.push("fast"), "f")),
        ctx.run("fast2", () => (calls.push("fast2"), "f2")),
      ]);
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(svc(fn));
    await ticks();
    assert.deepEqual(engine.proposals, [
      { commandIndex: 1, entry: run("slow", 1) },
      { commandIndex: 2, entry: run("fast", 2) },
      { commandIndex: 3, entry: run("fast2", 3) },
    ]);
    assert.deepEqual(
      engine.completions.map((c) => c.completionId),
      [2, 3],
      "the fast steps' results are not held back by the slow one",
    );
    releaseSlow();
    assert.deepEqual(okOutput(await handle.outcome), ["s", "f", "f2"]);
    assert.deepEqual(
      engine.completions.map((c) => c.completionId),
      [2, 3, 1],
    );
    // The journal that attempt wrote replays to the same output without running a body.
    calls.length = 0;
    const replay = fakeEngine(engine.log);
    assert.deepEqual(okOutput(await runAttempt(svc(fn), replay.io)), ["s", "f", "f2"]);
    assert.deepEqual(calls, []);
    assert.deepEqual(replay.proposals, []);
  });

  it("a command issued without awaiting a running step (set after an unawaited run) is proposed at once, in issue order", async () => {
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
    assert.deepEqual(engine.proposals, [
      { commandIndex: 1, entry: run("slow", 1) },
      { commandIndex: 2, entry: { type: "set_state", key: "after", value: enc(true) } },
    ]);
    release();
    assert.deepEqual(okOutput(await handle.outcome), "returned");
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

  it("the handler sees its target, input, headers and invocation id through ctx.request()", async () => {
    const outcome = await runAttempt(
      svc(async (ctx: Context, arg: { n: number }) => {
        const req = ctx.request();
        const { service, handler, key } = req.target;
        return {
          arg,
          id: req.id,
          header: req.headers.get("x-test"),
          body: dec(req.body),
          target: { service, handler, key: key ?? null, text: String(req.target) },
        };
      }),
      fakeEngine([input({ n: 1 })]).io,
    );
    assert.deepEqual(okOutput(outcome), {
      arg: { n: 1 },
      id: ID,
      header: "1",
      body: { n: 1 },
      // As Restate's SDK: `service/handler`, or `service/key/handler` for keyed handlers.
      target: { service: "Svc", handler: "h", key: null, text: "Svc/h" },
    });
  });
});

describe("attempt: steps journaled without their result (invariant 7)", () => {
  it("a Run command journaled without its completion runs its body again on replay and proposes only the result", async () => {
    const calls: string[] = [];
    // The attempt died while `a` ran: its command is journaled, its result is not.
    const engine = fakeEngine([input(4), run("a", 1)]);
    const outcome = await engine.run(svc(twoSteps(calls)));
    assert.deepEqual(okOutput(outcome), { a: 5, b: 50 });
    assert.deepEqual(calls, ["a", "b"]);
    assert.deepEqual(
      engine.proposals,
      [{ commandIndex: 2, entry: run("b", 2) }],
      "command 1 is not proposed again",
    );
    assert.deepEqual(engine.completions, [
      { completionId: 1, result: { ok: enc(5) } },
      { completionId: 2, result: { ok: enc(50) } },
    ]);
  });

  it("of two concurrent steps, only the one without a journaled completion runs again", async () => {
    const calls: string[] = [];
    const fn = async (ctx: Context) =>
      Promise.all([
        ctx.run("a", () => (calls.push("a"), "A now")),
        ctx.run("b", () => (calls.push("b"), "B now")),
      ]);
    const engine = fakeEngine([input(null), run("a", 1), run("b", 2), done(2, "B then")]);
    assert.deepEqual(okOutput(await engine.run(svc(fn))), ["A now", "B then"]);
    assert.deepEqual(calls, ["a"]);
    assert.deepEqual(engine.proposals, []);
    assert.deepEqual(engine.completions, [{ completionId: 1, result: { ok: enc("A now") } }]);
  });
});

describe("attempt: journal mismatch (invariant 2)", () => {
  it("ctx.run('b') where the journal has Run 'a' fails, naming handler, command index and both sides", async () => {
    let bodyRan = false;
    const engine = fakeEngine([input(null), ...ran("a", 1, 1)]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => ctx.run("b", () => ((bodyRan = true), 2))),
      engine.io,
    );
    const message = failedMessage(outcome);
    assert.match(
      message,
      /^JournalMismatchError \[OL0001\]: handler Svc\/h: journal mismatch at command 1: expected Run 'a', got Run 'b'/,
    );
    assert.equal((outcome as { code?: number }).code, 570, "the service protocol's journal mismatch code");
    assert.equal(bodyRan, false);
    assert.deepEqual(engine.proposals, []);
    assert.deepEqual(engine.completions, []);
  });

  it("another command type, another call target, another state key: each is a mismatch naming both sides", async () => {
    const cases: {
      journal: CommandEntry;
      fn: (ctx: ObjectContext) => PromiseLike<unknown>;
      expected: RegExp;
    }[] = [
      {
        journal: sleepAt(5, 1),
        fn: (ctx) => ctx.run("x", () => 1),
        expected: /command 1: expected Sleep, got Run 'x'/,
      },
      {
        journal: {
          type: "call",
          target: { service: "Counter", handler: "add", key: "k1" },
          argument: EMPTY,
          headers: {},
          invocationIdCompletionId: 1,
          resultCompletionId: 2,
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
    const engine = fakeEngine([
      input(null),
      signal(AWK_1, "v"),
      sleepAt(1_001, 1),
      done(1, undefined),
      ...ran("a", 2, 1),
    ]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        await ctx.awakeable().promise;
        await ctx.sleep(1);
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
      fakeEngine([input(null), ...ran("a", 1, 1), ...ran("b", 2, 2)]).io,
    );
    const message = failedMessage(outcome);
    assert.match(message, /handler Svc\/h/);
    assert.match(message, /command 2: expected Run 'b', but the handler returned/);
  });

  it("a handler that catches the mismatch error still fails", async () => {
    let caught: unknown;
    const engine = fakeEngine([input(null), ...ran("a", 1, 1)]);
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
    assert.deepEqual(okOutput(await fresh.run(svc(fn))), "refused 402: card declined");
    assert.deepEqual(fresh.proposals, [{ commandIndex: 1, entry: run("charge", 1) }]);
    assert.deepEqual(fresh.completions, [
      { completionId: 1, result: { err: { code: 402, message: "card declined" } } },
    ]);
    assert.deepEqual(fresh.log, [input(null), run("charge", 1), failedWith(1, 402, "card declined")]);

    const replay = fakeEngine(fresh.log);
    assert.deepEqual(okOutput(await runAttempt(svc(fn), replay.io)), "refused 402: card declined");
    assert.deepEqual(calls, ["charge"]);
    assert.deepEqual(replay.proposals, []);
    assert.deepEqual(replay.completions, []);
  });

  /** The outcome without its stack (for the engine's log), after checking the stack is the error's. */
  const withoutStack = (o: AttemptOutcome): object => {
    const { stack, ...rest } = o as AttemptOutcome & { stack?: string };
    assert.match(stack ?? "", /^\w*Error: /);
    return rest;
  };

  it("a plain Error fails the attempt (retryable), without a retryAfterMs", async () => {
    const outcome = await runAttempt(
      svc(async () => {
        throw new Error("db down");
      }),
      fakeEngine([input(null)]).io,
    );
    assert.deepEqual(withoutStack(outcome), { type: "failed", message: "Error: db down" });
  });

  it("a RetryableError with retryAfter fails the attempt with retryAfterMs", async () => {
    const outcome = await runAttempt(
      svc(async () => {
        throw new RetryableError("rate limited", { retryAfter: { seconds: 2, milliseconds: 500 } });
      }),
      fakeEngine([input(null)]).io,
    );
    assert.deepEqual(withoutStack(outcome), {
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
    assert.deepEqual(withoutStack(noAfter), { type: "failed", message: "RetryableError: later" });
  });

  it("a step throwing a plain error fails the attempt even if the handler catches it; no result is journaled (invariant 3)", async () => {
    const engine = fakeEngine([input(null)]);
    const outcome = await engine.run(
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
    );
    assert.match(failedMessage(outcome), /step broke/);
    assert.deepEqual(engine.proposals, [{ commandIndex: 1, entry: run("flaky", 1) }]);
    assert.deepEqual(engine.completions, []);
  });

  it("a step throwing a plain error fails the attempt even while the handler awaits something else (invariant 3)", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        // The body fails after the handler went on to wait for the awakeable.
        void ctx.run("flaky", async () => {
          await new Promise<void>((r) => setImmediate(r));
          throw new Error("step broke");
        });
        return ctx.awakeable<string>().promise;
      }),
    );
    const settled = await Promise.race([handle.outcome, ticks().then(() => "still waiting")]);
    assert.notEqual(settled, "still waiting");
    assert.deepEqual(withoutStack(settled as AttemptOutcome), {
      type: "failed",
      message: "Error: step broke",
    });
    assert.deepEqual(engine.completions, []);
  });

  it("after a step failed with a plain error, a later ctx.run does not claim a journal mismatch", async () => {
    let later: unknown;
    const outcome = await fakeEngine([input(null)]).run(
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
    );
    assert.deepEqual(withoutStack(outcome), { type: "failed", message: "Error: step broke" });
    assert.ok(later !== undefined, "the later step must not run");
    assert.equal(isJournalMismatchError(later), false, (later as Error).message);
  });

  it("a rejected proposal (a command, or a step's result) ends the attempt with that error", async () => {
    const refused = fakeEngine([input(null)]);
    refused.io.propose = () => Promise.reject(new Error("log sealed"));
    const byCommand = await refused.run(svc(async (ctx: Context) => ctx.sleep(1)));
    assert.deepEqual(withoutStack(byCommand), { type: "failed", message: "Error: log sealed" });

    const lost = fakeEngine([input(null)]);
    lost.io.proposeRunCompletion = () => Promise.reject(new Error("stale epoch"));
    const byResult = await lost.run(svc(async (ctx: Context) => ctx.run("a", () => 1)));
    assert.deepEqual(withoutStack(byResult), { type: "failed", message: "Error: stale epoch" });
  });

  it("ctx.run with {maxRetryAttempts: 3} retries the body in place, then journals a terminal failure", async () => {
    let tries = 0;
    const engine = fakeEngine([input(null)]);
    const outcome = await engine.run(
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
    );
    assert.equal(tries, 3);
    assert.deepEqual(engine.sleeps, [50, 100]);
    assert.deepEqual(engine.proposals, [{ commandIndex: 1, entry: run("flaky", 1) }]);
    assert.equal(engine.completions.length, 1);
    const result = engine.completions[0]!.result;
    const err = "err" in result ? result.err : undefined;
    assert.equal(err?.code, 500);
    // The step's own last message, as in Restate (not a wrapper sentence).
    assert.equal(err?.message, "try 3 failed");
    // Uncaught in the handler, the journaled failure ends the invocation with it.
    assert.deepEqual(outcome, { type: "end", result: { err } });
  });

  it("ctx.run retries grow by the factor up to the max interval, and stop at the first success", async () => {
    let tries = 0;
    const engine = fakeEngine([input(null)]);
    const outcome = await engine.run(
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
    );
    assert.deepEqual(okOutput(outcome), 5);
    assert.deepEqual(engine.sleeps, [10, 30, 50, 50]);
    assert.deepEqual(engine.completions, [{ completionId: 1, result: { ok: enc(5) } }]);
  });

  it("ctx.run with maxRetryDuration stops once the next wait would pass it", async () => {
    let now = 0;
    let tries = 0;
    const engine = fakeEngine([input(null)], { now: () => now });
    engine.io.sleep = async (ms) => {
      engine.sleeps.push(ms);
      now += ms;
    };
    const outcome = await engine.run(
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
      await engine.run(
        svc(async (ctx: Context) => {
          await ctx.run("a", () => 1);
          return [ctx.rand.random(), ctx.rand.random(), ctx.rand.uuidv4()];
        }),
      ),
    ) as [number, number, string];
  };

  it("ctx.rand gives the same sequence for the same invocation id across attempts, another for another id", async () => {
    const first = await draws(ID, [input(null)]);
    const retry = await draws(ID, [input(null), ...ran("a", 1, 1)]);
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
    const replay = fakeEngine([input(null), ...ran("a", 1, 1), ...ran("b", 2, 2)]);
    await replay.run(svc(fn));
    const partial = fakeEngine([input(null), ...ran("a", 1, 1)]);
    await partial.run(svc(fn));
    const fresh = fakeEngine([input(null)]);
    await fresh.run(svc(fn));
    assert.deepEqual(replay.logs, ["after b"]);
    assert.deepEqual(partial.logs, ["after a", "after b"]);
    assert.deepEqual(fresh.logs, ["before a", "after a", "after b"]);
  });

  it("ctx.date.now() and toJSON() are journaled: a replay returns the recorded values, not the clock's", async () => {
    const fn = async (ctx: Context) => [await ctx.date.now(), await ctx.date.toJSON()];
    const fresh = fakeEngine([input(null)], { now: () => 1_700_000_000_000 });
    const first = okOutput(await fresh.run(svc(fn)));
    assert.deepEqual(first, [1_700_000_000_000, "2023-11-14T22:13:20.000Z"]);
    assert.deepEqual(fresh.proposals, [
      { commandIndex: 1, entry: run("Date.now", 1) },
      { commandIndex: 2, entry: run("Date.toJSON", 2) },
    ]);
    assert.deepEqual(fresh.completions, [
      { completionId: 1, result: { ok: enc(1_700_000_000_000) } },
      { completionId: 2, result: { ok: enc("2023-11-14T22:13:20.000Z") } },
    ]);
    const replay = fakeEngine(fresh.log, { now: () => 42 });
    assert.deepEqual(okOutput(await runAttempt(svc(fn), replay.io)), first);
    assert.deepEqual(replay.proposals, []);
    assert.deepEqual(replay.completions, []);
  });

  it("ctx.sleep journals its wake-up time from io.now() and wakes on its void completion", async () => {
    const engine = fakeEngine([input(null)], { now: () => 5_000 });
    const handle = engine.start(svc(async (ctx: Context) => ctx.sleep({ seconds: 2 })));
    await ticks();
    assert.deepEqual(engine.proposals, [{ commandIndex: 1, entry: sleepAt(7_000, 1) }]);
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

  it("live signals settle futures in the order they are delivered (journal order); awakeables propose nothing", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(svc(twoAwakeables));
    await ticks();
    assert.deepEqual(engine.proposals, []);
    engine.notify(signal(AWK_2, "second awakeable"));
    engine.notify(signal(AWK_1, "first awakeable"));
    assert.deepEqual(okOutput(await handle.outcome), ["b=second awakeable", "a=first awakeable"]);
  });

  it("replayed notifications run the handler's continuations in journal order, as on the first attempt", async () => {
    const engine = fakeEngine([input(null), signal(AWK_2, "y"), signal(AWK_1, "x")]);
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
    live.notify(signal(AWK_2, "B"));
    live.notify(signal(AWK_1, "A"));
    assert.deepEqual(okOutput(await handle.outcome), ["A", "B"]);
    assert.deepEqual(
      live.proposals.map((p) => p.entry),
      [run("after-b", 1), run("after-a", 2)],
    );
    // A crash, a retry or a suspension replays exactly this journal.
    const replay = fakeEngine(live.log);
    const outcome = await runAttempt(svc(fn), replay.io);
    assert.deepEqual(okOutput(outcome), ["A", "B"]);
    assert.deepEqual(replay.proposals, []);
    assert.deepEqual(replay.completions, []);
  });

  it("a failed signal rejects the awakeable with a TerminalError carrying its code", async () => {
    const engine = fakeEngine([input(null), signalFailed(AWK_1, 418, "teapot")]);
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
    const engine = fakeEngine([input(null), sleepAt(1_010, 1)]);
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

  it("live: the future whose notification is journaled first wins", async () => {
    for (const [first, expected] of [
      [AWK_2, "B"],
      [AWK_1, "A"],
    ] as const) {
      const engine = fakeEngine([input(null)]);
      const handle = engine.start(svc(raceOf("ab")));
      await ticks();
      engine.notify(signal(first, first === AWK_1 ? "A" : "B"));
      engine.notify(signal(first === AWK_1 ? AWK_2 : AWK_1, first === AWK_1 ? "B" : "A"));
      assert.deepEqual(okOutput(await handle.outcome), expected);
    }
  });

  it("replay with both notifications journaled: the lower position wins, whatever the array order", async () => {
    for (const order of ["ab", "ba"] as const) {
      const bFirst = fakeEngine([input(null), signal(AWK_2, "B"), signal(AWK_1, "A")]);
      assert.deepEqual(
        okOutput(await runAttempt(svc(raceOf(order)), bFirst.io)),
        "B",
        `B first, order ${order}`,
      );
      const aFirst = fakeEngine([input(null), signal(AWK_1, "A"), signal(AWK_2, "B")]);
      assert.deepEqual(
        okOutput(await runAttempt(svc(raceOf(order)), aFirst.io)),
        "A",
        `A first, order ${order}`,
      );
      assert.deepEqual([...bFirst.proposals, ...aFirst.proposals], []);
    }
  });

  it("live: a step's completion and a signal appended in the same processor batch are seen in journal order", async () => {
    const fn = async (ctx: Context) => {
      const awk = ctx.awakeable<string>();
      const r = ctx.run("r", () => "ran");
      return RestatePromise.race([r, awk.promise]);
    };
    for (const stepFirst of [true, false]) {
      const engine = fakeEngine([input(null)], { manualAck: true });
      const handle = engine.start(svc(fn));
      await ticks();
      engine.ack(); // the Run command, position 1
      await ticks();
      // One batch: the step's result and the awakeable's signal, in either order.
      if (stepFirst) {
        engine.finish(1);
        engine.notify(signal(AWK_1, "awk"));
      } else {
        engine.notify(signal(AWK_1, "awk"));
        engine.finish(1);
      }
      const live = okOutput(await handle.outcome);
      assert.equal(live, stepFirst ? "ran" : "awk");
      assert.deepEqual(
        engine.log.map((e) => e.type),
        stepFirst ? ["input", "run", "completion", "signal"] : ["input", "run", "signal", "completion"],
      );
      const replay = okOutput(await runAttempt(svc(fn), fakeEngine(engine.log).io));
      assert.equal(replay, live);
    }
  });

  it("a race's failure is the earliest notification's failure", async () => {
    const engine = fakeEngine([input(null), signalFailed(AWK_2, 400, "B failed"), signal(AWK_1, "A")]);
    const outcome = await runAttempt(svc(raceOf("ab")), engine.io);
    assert.deepEqual(errOutput(outcome), { code: 400, message: "B failed" });
  });
});

describe("attempt: combinators over steps", () => {
  /** Two steps started a then b; which result is applied first is up to the test (manualAck). */
  const twoStepsBy =
    (kind: "race" | "any", calls: string[]) =>
    async (ctx: Context): Promise<string> => {
      const a = ctx.run("a", () => (calls.push("a"), "A"));
      const b = ctx.run("b", () => (calls.push("b"), "B"));
      return kind === "race" ? RestatePromise.race([a, b]) : RestatePromise.any([a, b]);
    };

  for (const kind of ["race", "any"] as const) {
    it(`${kind}: the later-started step whose result is notified first wins, live and on replay`, async () => {
      for (const [firstNotified, expected] of [
        [2, "B"],
        [1, "A"],
      ] as const) {
        const calls: string[] = [];
        const engine = fakeEngine([input(null)], { manualAck: true });
        const handle = engine.start(svc(twoStepsBy(kind, calls)));
        await ticks();
        assert.deepEqual(engine.proposals, [
          { commandIndex: 1, entry: run("a", 1) },
          { commandIndex: 2, entry: run("b", 2) },
        ]);
        engine.ack();
        engine.ack();
        engine.finish(firstNotified);
        engine.finish(firstNotified === 1 ? 2 : 1);
        assert.deepEqual(okOutput(await handle.outcome), expected);
        assert.deepEqual(calls, ["a", "b"]);

        calls.length = 0;
        const replay = fakeEngine(engine.log);
        assert.deepEqual(okOutput(await runAttempt(svc(twoStepsBy(kind, calls)), replay.io)), expected);
        assert.deepEqual(calls, [], "a replay runs no step body");
        assert.deepEqual(replay.proposals, []);
      }
    });
  }

  it("allSettled: a failing step is reported rejected, the others fulfilled, in argument order; a replay agrees", async () => {
    const calls: string[] = [];
    const fn = async (ctx: Context) => {
      const settled = await RestatePromise.allSettled([
        ctx.run("a", () => (calls.push("a"), "a")),
        ctx.run("b", () => {
          calls.push("b");
          throw new TerminalError("b refused", { errorCode: 400 });
        }),
        ctx.run("c", () => (calls.push("c"), "c")),
      ]);
      return settled.map((s) =>
        s.status === "fulfilled"
          ? s.value
          : `rejected ${(s.reason as TerminalError).code}: ${(s.reason as Error).message}`,
      );
    };
    const live = fakeEngine([input(null)]);
    const expected = ["a", "rejected 400: b refused", "c"];
    assert.deepEqual(okOutput(await live.run(svc(fn))), expected);
    assert.deepEqual(
      live.completions.find((c) => c.completionId === 2),
      { completionId: 2, result: { err: { code: 400, message: "b refused" } } },
    );
    calls.length = 0;
    assert.deepEqual(okOutput(await runAttempt(svc(fn), fakeEngine(live.log).io)), expected);
    assert.deepEqual(calls, []);
  });

  it("orTimeout on a step: the sleep's completion first gives a TimeoutError, the step's result first its value; replays agree", async () => {
    const fn = async (ctx: Context) => {
      try {
        return await ctx.run("slow", () => "value").orTimeout({ seconds: 1 });
      } catch (e) {
        return isTimeoutError(e) ? `timeout ${e.code}` : `other ${String(e)}`;
      }
    };
    for (const timerFirst of [true, false]) {
      const engine = fakeEngine([input(null)], { manualAck: true, now: () => 10_000 });
      const handle = engine.start(svc(fn));
      await ticks();
      assert.deepEqual(engine.proposals, [
        { commandIndex: 1, entry: run("slow", 1) },
        { commandIndex: 2, entry: sleepAt(11_000, 2) },
      ]);
      engine.ack();
      engine.ack();
      if (timerFirst) engine.notify(done(2, undefined));
      engine.finish(1);
      if (!timerFirst) engine.notify(done(2, undefined));
      const live = okOutput(await handle.outcome);
      assert.equal(live, timerFirst ? "timeout 408" : "value");
      const replay = fakeEngine(engine.log);
      assert.equal(okOutput(await runAttempt(svc(fn), replay.io)), live);
      assert.deepEqual(replay.completions, []);
    }
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

  it("journals a sleep; the sleep's completion first gives a TimeoutError", async () => {
    const engine = fakeEngine([input(null)], { now: () => 10_000 });
    const handle = engine.start(svc(withTimeout));
    await ticks();
    assert.deepEqual(engine.proposals, [{ commandIndex: 1, entry: sleepAt(15_000, 1) }]);
    engine.notify(done(1, undefined));
    engine.notify(signal(AWK_1, "late"));
    assert.deepEqual(okOutput(await handle.outcome), "timeout 408");
  });

  it("the awaited awakeable's signal first gives its value", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(svc(withTimeout));
    await ticks();
    engine.notify(signal(AWK_1, "in time"));
    assert.deepEqual(okOutput(await handle.outcome), "in time");
  });

  it("on replay the journal decides, whatever the clock says", async () => {
    const sleep = sleepAt(6_000, 1);
    const timedOut = fakeEngine([input(null), sleep, done(1, undefined), signal(AWK_1, "v")]);
    assert.deepEqual(okOutput(await runAttempt(svc(withTimeout), timedOut.io)), "timeout 408");
    const inTime = fakeEngine([input(null), sleep, signal(AWK_1, "v"), done(1, undefined)]);
    assert.deepEqual(okOutput(await runAttempt(svc(withTimeout), inTime.io)), "v");
  });

  it("an uncaught TimeoutError ends the invocation with code 408", async () => {
    const engine = fakeEngine([input(null), sleepAt(1, 1), done(1, undefined)]);
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
    const fine = fakeEngine([input(null), signal(AWK_3, "c"), signal(AWK_1, "a"), signal(AWK_2, "b")]);
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
      signal(AWK_1, "a"),
      signalFailed(AWK_3, 400, "third"),
      signalFailed(AWK_2, 401, "second"),
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
      signalFailed(AWK_1, 500, "x"),
      signal(AWK_3, "c"),
      signal(AWK_2, "b"),
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
      signalFailed(AWK_1, 500, "x"),
      signalFailed(AWK_2, 500, "y"),
      signalFailed(AWK_3, 500, "z"),
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
      signal(AWK_2, "b"),
      signalFailed(AWK_1, 409, "no"),
      signal(AWK_3, "c"),
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
    assert.deepEqual(
      engine.proposals.map((p) => p.entry),
      [run("a", 1), sleepAt(1_005, 2)],
    );
    engine.notify(done(2, undefined));
    assert.deepEqual(okOutput(await handle.outcome), [1, "slept"]);
  });

  it("a RestatePromise is a real Promise, assignable to Promise<T>", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        const step: Promise<number> = ctx.run("a", () => 1);
        const woke: Promise<void> = ctx.sleep(1);
        const awk: Promise<string> = ctx.awakeable<string>().promise;
        const mapped: Promise<string> = ctx.run("b", () => 2).map((v) => `mapped ${v}`);
        const kinds = [step, woke, awk, mapped].map((p) => p instanceof Promise);
        return [kinds, await step, await Promise.all([awk, mapped])];
      }),
    );
    await ticks();
    engine.notify(signal(AWK_1, "signalled"));
    assert.deepEqual(okOutput(await handle.outcome), [
      [true, true, true, true],
      1,
      ["signalled", "mapped 2"],
    ]);
  });
});

describe("attempt: cancellation (invariant 5)", () => {
  it("the cancel signal rejects the pending future with CancelledError; uncaught it ends with 409 Cancelled", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(svc(async (ctx: Context) => ctx.awakeable().promise));
    await ticks();
    engine.notify(CANCEL);
    assert.deepEqual(errOutput(await handle.outcome), { code: 409, message: "Cancelled" });
  });

  it("it rejects every pending cancellable future, and not the ones already completed", async () => {
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
    engine.notify(signal(AWK_2, "c"));
    engine.notify(CANCEL);
    assert.deepEqual(okOutput(await handle.outcome), ["cancelled", "cancelled", "c"]);
  });

  it("it rejects a call's result but not its callee id, nor a lazy state read", async () => {
    const engine = fakeEngine([input(null)], { key: "k", manualAck: true, stored: { n: 5 } });
    const handle = engine.start(
      obj(async (ctx: ObjectContext) => {
        const call = ctx.objectClient<Counter>({ name: "Counter" }, "other").add(1);
        const got = ctx.get<number>("n");
        const settled = await Promise.allSettled([call.invocationId, got, call]);
        return settled.map((r) =>
          r.status === "fulfilled" ? r.value : isCancelledError(r.reason) ? "cancelled" : String(r.reason),
        );
      }),
    );
    await ticks();
    assert.equal(engine.unacked, 2);
    engine.notify(CANCEL); // before either command is applied
    engine.ack();
    engine.ack();
    assert.deepEqual(okOutput(await handle.outcome), [calleeOf(1), 5, "cancelled"]);
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
    engine.notify(CANCEL);
    assert.deepEqual(errOutput(await handle.outcome), { code: 409, message: "Cancelled" });
    assert.deepEqual(engine.proposals.at(-1), { commandIndex: 1, entry: run("refund", 1) });
    assert.deepEqual(engine.completions, [{ completionId: 1, result: { ok: enc("refunded") } }]);
  });

  it("with nothing cancellable pending, it rejects the next cancellable command issued; steps are not affected", async () => {
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
    engine.notify(CANCEL);
    release();
    assert.deepEqual(okOutput(await handle.outcome), ["worked", "more", "cancelled"]);
    assert.deepEqual(
      engine.proposals.map((p) => p.entry.type),
      ["run", "run", "sleep"],
    );
  });

  it("a cancel signal right after the input rejects every awakeable the handler waits on, live and on replay", async () => {
    const fn = async (ctx: Context) => {
      const settled = await RestatePromise.allSettled([
        ctx.awakeable<string>().promise,
        ctx.awakeable<string>().promise,
      ]);
      return settled.map((r) => (r.status === "rejected" && isCancelledError(r.reason) ? "cancelled" : "?"));
    };
    const live = fakeEngine([input(null)]);
    const handle = live.start(svc(fn));
    await ticks();
    live.notify(CANCEL);
    assert.deepEqual(okOutput(await handle.outcome), ["cancelled", "cancelled"]);
    // The usual path: the first attempt suspended on both awakeables, the cancel signal resumed
    // the invocation, and the next attempt replays this journal.
    assert.deepEqual(live.log, [input(null), CANCEL]);
    const replay = fakeEngine(live.log).start(svc(fn));
    const settled = await Promise.race([replay.outcome, ticks().then(() => "still waiting")]);
    assert.deepEqual(settled, { type: "end", result: { ok: enc(["cancelled", "cancelled"]) } });
  });

  it("on replay, a journaled cancel signal rejects the same future", async () => {
    const cancelled = fakeEngine([input(null), CANCEL]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => ctx.awakeable().promise),
      cancelled.io,
    );
    assert.deepEqual(errOutput(outcome), { code: 409, message: "Cancelled" });
    // Cancelled while step `a` ran: the sleep (issued after it) is the one rejected.
    const early = fakeEngine([input(null), run("a", 1), CANCEL, done(1, 1), sleepAt(9, 2)]);
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
    const engine = fakeEngine([input(null), ...greetCalled(), failedWith(2, 409, "Cancelled")]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        try {
          return await ctx.serviceClient<Greeter>({ name: "Greeter" }).greet("Ada");
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
  it("undefined while a step runs, while a command is not acked, while a step's result is not notified; then what it waits on", async () => {
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
    assert.equal(engine.unacked, 2);
    assert.equal(handle.waitingOn(), undefined, "the Run command is not acked");
    engine.ack();
    await ticks();
    assert.equal(handle.waitingOn(), undefined, "the step's result is not notified");
    engine.ack();
    await ticks();
    assert.equal(engine.unacked, 1);
    assert.equal(handle.waitingOn(), undefined, "the sleep is not acked");
    engine.ack();
    await ticks();
    assert.deepEqual(handle.waitingOn(), { completionIds: [2], signalIds: [AWK_1, CANCEL_SIGNAL_ID] });
    engine.notify(signal(AWK_1, "A"));
    assert.deepEqual(okOutput(await handle.outcome), "A");
  });

  it("only what is still pending: a completed one is left out", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        const a = ctx.awakeable<string>().promise;
        const s = ctx.sleep(5);
        return [await a, await s];
      }),
    );
    await ticks();
    assert.deepEqual(handle.waitingOn(), { completionIds: [1], signalIds: [AWK_1, CANCEL_SIGNAL_ID] });
    engine.notify(signal(AWK_1, "a"));
    await ticks();
    assert.deepEqual(handle.waitingOn(), { completionIds: [1], signalIds: [CANCEL_SIGNAL_ID] });
    engine.notify(done(1, undefined));
    assert.deepEqual(okOutput(await handle.outcome), ["a", null]);
  });

  it("signal 1 is waited on until the cancel signal was seen, not after", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        try {
          await ctx.awakeable<string>().promise;
        } catch (e) {
          if (!isCancelledError(e)) throw e;
        }
        return ctx.awakeable<string>().promise;
      }),
    );
    await ticks();
    assert.deepEqual(handle.waitingOn(), { completionIds: [], signalIds: [AWK_1, CANCEL_SIGNAL_ID] });
    engine.notify(CANCEL);
    await ticks();
    assert.deepEqual(handle.waitingOn(), { completionIds: [], signalIds: [AWK_2] });
    engine.notify(signal(AWK_2, "after cancel"));
    assert.deepEqual(okOutput(await handle.outcome), "after cancel");
    // A replay of that journal has seen the cancel signal too.
    const replay = fakeEngine(engine.log.slice(0, 2));
    const again = replay.start(
      svc(async (ctx: Context) => {
        try {
          await ctx.awakeable<string>().promise;
        } catch (e) {
          if (!isCancelledError(e)) throw e;
        }
        return ctx.awakeable<string>().promise;
      }),
    );
    await ticks();
    assert.deepEqual(again.waitingOn(), { completionIds: [], signalIds: [AWK_2] });
    replay.notify(signal(AWK_2, "x"));
    await again.outcome;
  });

  it("with includeProposedRuns, a proposed step result not yet notified is waited on, not busy", async () => {
    const engine = fakeEngine([input(null)], { manualAck: true });
    const handle = engine.start(svc(async (ctx: Context) => ctx.run("step", () => 1)));
    await ticks();
    engine.ack(); // the Run command
    await ticks();
    assert.equal(engine.unacked, 1, "the step's result is proposed");
    assert.equal(handle.waitingOn(), undefined);
    assert.deepEqual(handle.waitingOn({ includeProposedRuns: true }), {
      completionIds: [1],
      signalIds: [CANCEL_SIGNAL_ID],
    });
    engine.ack();
    assert.deepEqual(okOutput(await handle.outcome), 1);
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

  it("on a replayed journal, what was journaled without a notification", async () => {
    const engine = fakeEngine([input(null), sleepAt(3, 1), signal(AWK_1, "a")]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        const a = ctx.awakeable<string>().promise;
        const s = ctx.sleep(2);
        await Promise.all([a, s]);
        return "both";
      }),
    );
    await ticks();
    assert.deepEqual(handle.waitingOn(), { completionIds: [1], signalIds: [CANCEL_SIGNAL_ID] });
    assert.deepEqual(engine.proposals, []);
    engine.notify(done(1, undefined));
    assert.deepEqual(okOutput(await handle.outcome), "both");
  });
});

describe("attempt: named signals (ctx.signal, ctx.invocation; invariant 8)", () => {
  const named = (name: string, v: unknown): NotificationEntry => ({
    type: "named_signal",
    name,
    value: { ok: enc(v) },
  });

  it("a signal journaled before the handler waits for it is kept for it; waiting proposes nothing", async () => {
    const engine = fakeEngine([input(null), named("go", "early")]);
    const outcome = await engine.run(
      svc(async (ctx: Context) => {
        await ctx.run("first", () => 1);
        return ctx.signal<string>("go");
      }),
    );
    assert.deepEqual(okOutput(outcome), "early");
    assert.deepEqual(
      engine.proposals.map((p) => p.entry.type),
      ["run"],
    );
  });

  it("the k-th wait of a name gets the k-th signal of that name, live and on replay; other names are apart", async () => {
    const fn = async (ctx: Context) => {
      const both = RestatePromise.all([ctx.signal<string>("x"), ctx.signal<string>("x")]);
      const y = await ctx.signal<string>("y");
      const [a, b] = await both;
      return [a, b, y, await ctx.signal<string>("x")];
    };
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(svc(fn));
    await ticks();
    assert.deepEqual(handle.waitingOn(), {
      completionIds: [],
      signalIds: [CANCEL_SIGNAL_ID],
      signalNames: ["x", "y"],
      seenJournalLength: 1,
    });
    engine.notify(named("x", 1));
    engine.notify(named("y", "why"));
    engine.notify(named("x", 2));
    await ticks();
    assert.deepEqual(handle.waitingOn(), {
      completionIds: [],
      signalIds: [CANCEL_SIGNAL_ID],
      signalNames: ["x"],
      seenJournalLength: 4,
    });
    engine.notify(named("x", 3));
    assert.deepEqual(okOutput(await handle.outcome), [1, 2, "why", 3]);
    const replay = fakeEngine(engine.log);
    assert.deepEqual(okOutput(await runAttempt(svc(fn), replay.io)), [1, 2, "why", 3]);
  });

  it("a rejected signal rejects the wait with a TerminalError (code, message, metadata); the cancel signal with CancelledError", async () => {
    const engine = fakeEngine([
      input(null),
      {
        type: "named_signal",
        name: "ok?",
        value: { err: { code: 403, message: "denied", metadata: [{ key: "k", value: "v" }] } },
      },
      CANCEL,
    ]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        const out: unknown[] = [];
        try {
          await ctx.signal("ok?");
        } catch (e) {
          out.push(isTerminalError(e) ? [e.code, e.message, e.metadata] : String(e));
        }
        try {
          await ctx.signal("never");
        } catch (e) {
          out.push(isCancelledError(e));
        }
        return out;
      }),
      engine.io,
    );
    assert.deepEqual(okOutput(outcome), [[403, "denied", { k: "v" }], true]);
  });

  it("ctx.invocation(id): signal(name).resolve/reject journal a SendSignal by name; cancel and attach are ctx.cancel and ctx.attach", async () => {
    const fn = async (ctx: Context) => {
      const target = ctx.invocation(OTHER_ID);
      target.signal<{ ok: boolean }>("approved").resolve({ ok: true });
      target.signal("approved").resolve();
      target.signal("bytes", serde.binary).resolve(new Uint8Array([1, 2]));
      target.signal("no").reject("denied");
      target.signal("no").reject(new TerminalError("gone", { errorCode: 410, metadata: { a: "b" } }));
      target.cancel();
      return target.attach<string>();
    };
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(svc(fn));
    await ticks();
    const send = (name: string, value: unknown): CommandEntry =>
      ({ type: "send_named_signal", invocationId: OTHER_ID, name, value }) as CommandEntry;
    assert.deepEqual(
      engine.proposals.map((p) => p.entry),
      [
        send("approved", { ok: enc({ ok: true }) }),
        send("approved", { ok: EMPTY }),
        send("bytes", { ok: new Uint8Array([1, 2]) }),
        send("no", { err: { code: 500, message: "denied" } }),
        send("no", { err: { code: 410, message: "gone", metadata: [{ key: "a", value: "b" }] } }),
        { type: "cancel_invocation", invocationId: OTHER_ID },
        { type: "attach", invocationId: OTHER_ID, completionId: 1 },
      ],
    );
    engine.notify(done(1, "their result"));
    assert.deepEqual(okOutput(await handle.outcome), "their result");
    // A replay matches each send by target and name.
    const replay = fakeEngine(engine.log);
    assert.deepEqual(okOutput(await runAttempt(svc(fn), replay.io)), "their result");
    assert.deepEqual(replay.proposals, []);
    const changed = fakeEngine(engine.log);
    const mismatch = await runAttempt(
      svc(async (ctx: Context) => {
        ctx.invocation(OTHER_ID).signal("other").resolve(1);
        return "no";
      }),
      changed.io,
    );
    assert.match(
      failedMessage(mismatch),
      /expected SendSignal 'approved' to inv_2+b+, got SendSignal 'other'/,
    );
  });

  it("every context has them: object, shared, workflow run and shared handlers", async () => {
    const body = async (ctx: Context) => {
      ctx.invocation(OTHER_ID).signal("s").resolve(ctx.request().id);
      return ctx.signal<string>("back");
    };
    for (const h of [obj(body), objShared(body), wfRun(body), wfShared(body)]) {
      const engine = fakeEngine([input(null), named("back", h.name)], {
        key: "k",
        state: { values: new Map(), complete: true },
      });
      assert.deepEqual(okOutput(await runAttempt(h, engine.io)), h.name);
      assert.deepEqual(
        engine.proposals.map((p) => p.entry.type),
        ["send_named_signal"],
      );
    }
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

  it("get with incomplete eager state and an unknown key is lazy: the future waits for apply's notification", async () => {
    let got: unknown = "nothing yet";
    const engine = fakeEngine([input(null)], {
      key: "k",
      state: eager({ other: 1 }, false),
      manualAck: true,
      stored: { count: 42 },
    });
    const handle = engine.start(
      obj(async (ctx) => {
        got = await ctx.get<number>("count");
        // The second read of the key is known now: no round trip, and the same value.
        return [got, await ctx.get<number>("count"), await ctx.get<number>("other")];
      }),
    );
    await ticks();
    assert.deepEqual(engine.proposals, [
      { commandIndex: 1, entry: { type: "get_state", key: "count", completionId: 1 } },
    ]);
    assert.equal(got, "nothing yet");
    engine.ack();
    await ticks();
    assert.equal(got, 42);
    assert.deepEqual(engine.log.slice(1, 3), [
      { type: "get_state", key: "count", completionId: 1 },
      done(1, 42),
    ]);
    engine.ack();
    engine.ack();
    assert.deepEqual(okOutput(await handle.outcome), [42, 42, 1]);
    assert.deepEqual(engine.proposals.slice(1), [
      { commandIndex: 2, entry: { type: "get_state", key: "count", value: enc(42) } },
      { commandIndex: 3, entry: { type: "get_state", key: "other", value: enc(1) } },
    ]);
  });

  it("without eager state every get is lazy; an absent key is notified void and reads null", async () => {
    const engine = fakeEngine([input(null)], { key: "k" });
    const outcome = await engine.run(obj(async (ctx) => ({ x: await ctx.get("x") })));
    assert.deepEqual(okOutput(outcome), { x: null });
    assert.deepEqual(engine.proposals, [
      { commandIndex: 1, entry: { type: "get_state", key: "x", completionId: 1 } },
    ]);
    assert.deepEqual(engine.log.at(-1), { type: "completion", completionId: 1, value: VOID });
  });

  it("set, clear and clearAll are journaled and read back locally", async () => {
    const engine = fakeEngine([input(null)], { key: "k", state: eager({ a: 1, b: 2 }, false) });
    const outcome = await engine.run(
      obj(async (ctx) => {
        ctx.set("a", 10);
        const a = await ctx.get<number>("a");
        ctx.clear("b");
        const b = await ctx.get<number>("b");
        ctx.clearAll();
        const afterAll = [await ctx.get("a"), await ctx.get("zzz"), await ctx.stateKeys()];
        return [a, b, afterAll];
      }),
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

  it("stateKeys: from complete eager state (sorted, cleared ones left out), else notified by apply", async () => {
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
      stored: { from: 1, store: 2 },
    });
    assert.deepEqual(okOutput(await lazy.run(obj(async (ctx) => ctx.stateKeys()))), ["from", "store"]);
    assert.deepEqual(lazy.proposals, [
      { commandIndex: 1, entry: { type: "get_state_keys", completionId: 1 } },
    ]);
  });

  it("on replay, the journaled value wins over the eager state, whether it was read eagerly or lazily", async () => {
    const fn = async (ctx: ObjectContext) => {
      const v = await ctx.get<number>("count");
      return ctx.run("double", () => (v ?? 0) * 2);
    };
    const eagerly = fakeEngine([input(null), { type: "get_state", key: "count", value: enc(7) }], {
      key: "k",
      state: eager({ count: 9 }),
    });
    assert.deepEqual(okOutput(await eagerly.run(obj(fn))), 14);
    assert.deepEqual(eagerly.proposals, [{ commandIndex: 2, entry: run("double", 1) }]);
    const lazily = fakeEngine(
      [input(null), { type: "get_state", key: "count", completionId: 1 }, done(1, 7)],
      { key: "k", state: eager({ count: 9 }) },
    );
    assert.deepEqual(okOutput(await lazily.run(obj(fn))), 14);
    assert.deepEqual(lazily.proposals, [{ commandIndex: 2, entry: run("double", 2) }]);
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
      { commandIndex: 1, entry: { type: "promise_get", name: "clicked", completionId: 1 } },
    ]);
    engine.notify(done(1, "yes"));
    assert.deepEqual(okOutput(await handle.outcome), "yes");
  });

  it("a promise that already has a result is notified right after promise_get", async () => {
    const engine = fakeEngine([input(null)], { key: "wf1", promises: { clicked: { ok: enc("earlier") } } });
    assert.deepEqual(
      okOutput(await engine.run(wfRun(async (ctx) => ctx.promise<string>("clicked")))),
      "earlier",
    );
  });

  it("awaiting the durable promise itself waits for it; a rejected promise throws its TerminalError", async () => {
    const engine = fakeEngine([
      input(null),
      { type: "promise_get", name: "p", completionId: 1 },
      failedWith(1, 500, "nope"),
    ]);
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

  it("peek: undefined while unresolved (void), the value once resolved (notified by apply)", async () => {
    const none = fakeEngine([input(null)]);
    assert.deepEqual(
      okOutput(await none.run(wfShared(async (ctx) => (await ctx.promise("p").peek()) ?? "none"))),
      "none",
    );
    assert.deepEqual(none.proposals, [
      { commandIndex: 1, entry: { type: "promise_peek", name: "p", completionId: 1 } },
    ]);
    const some = fakeEngine([input(null)], { promises: { p: { ok: enc("v") } } });
    assert.deepEqual(okOutput(await some.run(wfShared(async (ctx) => ctx.promise("p").peek()))), "v");
  });

  it("resolve and reject propose promise_complete; a 409 notification (already completed) throws a 409 TerminalError", async () => {
    const engine = fakeEngine([input(null)]);
    assert.deepEqual(
      okOutput(
        await engine.run(
          wfShared(async (ctx) => {
            await ctx.promise<string>("clicked").resolve("secret");
            await ctx.promise("failed").reject("went wrong");
            return "ok";
          }),
        ),
      ),
      "ok",
    );
    assert.deepEqual(
      engine.proposals.map((p) => p.entry),
      [
        { type: "promise_complete", name: "clicked", result: { ok: enc("secret") }, completionId: 1 },
        {
          type: "promise_complete",
          name: "failed",
          result: { err: { code: 500, message: "went wrong" } },
          completionId: 2,
        },
      ],
    );
    const twice = fakeEngine([input(null)], { promises: { clicked: { ok: enc("first") } } });
    const outcome = await twice.run(wfShared(async (ctx) => ctx.promise<string>("clicked").resolve("again")));
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
  it("objectClient(...).add(1) proposes a call with target, JSON argument, two completion ids and no workflow flag; resolves with the callee's output", async () => {
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
          invocationIdCompletionId: 1,
          resultCompletionId: 2,
        },
      },
    ]);
    assert.equal(calleeId, calleeOf(1));
    engine.notify(done(2, 2));
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
          invocationIdCompletionId: 1,
          resultCompletionId: 2,
        },
        {
          type: "call",
          target: { service: "Signup", handler: "run", key: "wf1" },
          argument: enc({ email: "a@b" }),
          headers: {},
          workflow: true,
          invocationIdCompletionId: 3,
          resultCompletionId: 4,
        },
      ],
    );
    engine.notify(done(4, "signed"));
    engine.notify(done(2, "hi"));
    assert.deepEqual(okOutput(await handle.outcome), ["hi", "signed"]);
  });

  it("a call's failure surfaces as a TerminalError with the callee's code", async () => {
    const engine = fakeEngine([
      input(null),
      ...greetCalled(),
      failedWith(2, 404, "unknown handler Greeter/greet"),
    ]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => ctx.serviceClient<Greeter>({ name: "Greeter" }).greet("Ada")),
      engine.io,
    );
    assert.deepEqual(errOutput(outcome), { code: 404, message: "unknown handler Greeter/greet" });
  });

  it("send clients propose sends; rpc.sendOpts({delay}) gives delayMs, per call or as the client's default", async () => {
    const engine = fakeEngine([input(null)]);
    const outcome = await engine.run(
      svc(async (ctx: Context) => {
        const h1 = ctx
          .objectSendClient<Counter>({ name: "Counter" }, "k")
          .add(1, rpc.sendOpts({ delay: 5_000 }));
        ctx.serviceSendClient<Mailer>({ name: "Mailer" }, rpc.sendOpts({ delay: { seconds: 2 } })).send("x");
        ctx.workflowSendClient<Signup>({ name: "Signup" }, "wf1").run("now");
        return h1.invocationId;
      }),
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
          invocationIdCompletionId: 1,
        },
        {
          type: "send",
          target: { service: "Mailer", handler: "send" },
          argument: enc("x"),
          headers: {},
          delayMs: 2_000,
          invocationIdCompletionId: 2,
        },
        {
          type: "send",
          target: { service: "Signup", handler: "run", key: "wf1" },
          argument: enc("now"),
          headers: {},
          workflow: true,
          invocationIdCompletionId: 3,
        },
      ],
    );
    assert.deepEqual(okOutput(outcome), calleeOf(1));
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
          invocationIdCompletionId: 1,
        },
        {
          type: "call",
          target: { service: "Ticker", handler: "tick", key: "t" },
          argument: EMPTY,
          headers: { h: "v" },
          idempotencyKey: "once",
          invocationIdCompletionId: 2,
          resultCompletionId: 3,
        },
      ],
    );
    engine.notify(done(3, 1));
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
          invocationIdCompletionId: 1,
        },
        {
          type: "call",
          target: { service: "Raw", handler: "get", key: "k" },
          argument: new Uint8Array([3]),
          headers: {},
          invocationIdCompletionId: 2,
          resultCompletionId: 3,
        },
      ],
    );
    engine.notify({ type: "completion", completionId: 3, value: { ok: new Uint8Array([9, 8]) } });
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
        { type: "attach", invocationId: OTHER_ID, completionId: 1 },
      ],
    );
    engine.notify(done(1, "their output"));
    assert.deepEqual(okOutput(await handle.outcome), "their output");
  });
});

describe("attempt: awakeables", () => {
  it("the awakeable id names the invocation and the signal id (17, 18, …), and parses back", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        await ctx.run("first", () => 1);
        const first = ctx.awakeable<string>();
        const second = ctx.awakeable<string>();
        return [first.id, second.id, await first.promise];
      }),
    );
    await ticks();
    engine.notify(signal(AWK_1, "resolved"));
    const [id, id2, value] = okOutput(await handle.outcome) as [string, string, string];
    assert.equal(value, "resolved");
    assert.equal(id, awakeableId(ID, AWK_1));
    assert.match(id, /^awk_1111111111111111aaaaaaaaaaaaaaaaaaaaaaaah$/);
    assert.deepEqual(parseAwakeableId(id), { invocationId: ID, signalId: 17 });
    assert.deepEqual(parseAwakeableId(id2), { invocationId: ID, signalId: 18 });
    assert.deepEqual(engine.proposals, [{ commandIndex: 1, entry: run("first", 1) }]);
  });

  it("awakeableId / parseAwakeableId round-trip for large signal ids and reject malformed ids and reserved signal ids", () => {
    for (const k of [17, 35, 36, 1_000, 2_000_000_000]) {
      assert.deepEqual(parseAwakeableId(awakeableId(OTHER_ID, k)), {
        invocationId: OTHER_ID,
        signalId: k,
      });
    }
    for (const bad of [
      "",
      "awk_",
      "awk_xyz",
      `inv_${"a".repeat(40)}h`,
      `awk_${"a".repeat(39)}`,
      `awk_${"A".repeat(40)}h`,
      awakeableId(OTHER_ID, CANCEL_SIGNAL_ID),
      awakeableId(OTHER_ID, 16),
    ]) {
      assert.equal(parseAwakeableId(bad), undefined, bad);
    }
  });

  it("protocol ids (sign_1 + base64url of the Start id and the signal id): named by AttemptIO.awakeableId, parsed back for 20-byte ids, accepted by resolveAwakeable", async () => {
    const startId = Uint8Array.from(Buffer.from(ID.slice(4), "hex"));
    const engine = fakeEngine([input(null)]);
    const io: AttemptIO = { ...engine.io, awakeableId: (signalId) => protocolAwakeableId(startId, signalId) };
    const foreign = "sign_1" + Buffer.from("a Restate server's id").toString("base64url");
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        ctx.resolveAwakeable(foreign, "x");
        return ctx.awakeable<string>().id;
      }),
      io,
    );
    const id = okOutput(outcome) as string;
    const bytes = Buffer.concat([Buffer.from(startId), Buffer.from([0, 0, 0, AWK_1])]);
    assert.equal(id, `sign_1${bytes.toString("base64url")}`);
    assert.deepEqual(parseAwakeableId(id), { invocationId: ID, signalId: AWK_1 });
    assert.equal(parseAwakeableId(foreign), undefined, "not a onelog invocation id");
    assert.equal(isAwakeableId(foreign), true);
    assert.equal(parseAwakeableId(protocolAwakeableId(startId, CANCEL_SIGNAL_ID)), undefined);
    assert.equal(isAwakeableId("sign_1"), false);
    assert.equal(isAwakeableId("sign_1 spaces"), false);
    assert.deepEqual(
      engine.proposals.map((p) => p.entry.type),
      ["complete_awakeable"],
    );
  });

  it("resolveAwakeable / rejectAwakeable propose complete_awakeable with the result", async () => {
    const id = awakeableId(OTHER_ID, 17);
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

  it("resolveAwakeable with something that is not an awakeable id throws a 400 TerminalError and proposes nothing", async () => {
    const engine = fakeEngine([input(null)]);
    const outcome = await runAttempt(
      svc(async (ctx: Context) => {
        ctx.resolveAwakeable(awakeableId(OTHER_ID, CANCEL_SIGNAL_ID), "x");
        return "sent";
      }),
      engine.io,
    );
    assert.equal(errOutput(outcome).code, 400);
    assert.deepEqual(engine.proposals, []);
  });

  it("a signal that arrives before its awakeable is created is kept for it", async () => {
    const engine = fakeEngine([input(null)]);
    const handle = engine.start(
      svc(async (ctx: Context) => {
        await ctx.sleep(1);
        return ctx.awakeable<string>().promise;
      }),
    );
    await ticks();
    engine.notify(signal(AWK_1, "early"));
    engine.notify(done(1, undefined));
    assert.deepEqual(okOutput(await handle.outcome), "early");
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
        // No journal retention: the engine's default applies (start({ defaultJournalRetention })).
        inactivityTimeoutMs: DEFAULTS.inactivityTimeoutMs,
      },
    );
    assert.equal("journalRetentionMs" in h!, false);
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
