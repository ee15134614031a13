// Proves apply handles everything that completes or interrupts a command (apply.ts invariants 4, 7, 8: sleeps and their timers, calls and sends through the outbox and their callee-id notifications, responses, duplicate completions, awakeables as signals, attach, suspension, cancel and kill), by golden tests: given this MemoryStore and this record, exactly these actions and these rows.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CANCEL_SIGNAL_ID,
  VOID,
  awakeableId,
  type CommandEntry,
  type NotificationEntry,
  type NotificationValue,
  type Result,
} from "@onelog/sdk/internal";
import { apply, type Action } from "../../packages/onelog/src/internal/partition/apply.js";
import {
  derivedInvocationId,
  isInvocationId,
  idempotentInvocationId,
  partitionKeyFor,
  workflowRunId,
} from "../../packages/onelog/src/internal/partition/ids.js";
import type {
  Caller,
  InvokeBody,
  OutboxMessage,
  RecordBody,
  RecordHeader,
  RetryPolicy,
  Target,
} from "../../packages/onelog/src/internal/partition/records.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";

/** Keyed targets never draw randomness for their partition key. */
const NO_RANDOM = {
  hex(): string {
    throw new Error("a keyed partition key drew randomness");
  },
};

// ---------------------------------------------------------------------------------------------
// Helpers

const T0 = 1_700_000_000_000;
const A = "inv_00000000000000000000000000000000000000a1";
const B = "inv_00000000000000000000000000000000000000b2";
const CALLER = "inv_00000000000000000000000000000000000000f9";
const GREET: Target = { service: "Greeter", handler: "greet" };
const MAIL: Target = { service: "Mailer", handler: "send" };
const ADD: Target = { service: "Counter", handler: "add", key: "k1" };
const POLICY: RetryPolicy = {
  initialIntervalMs: 50,
  factor: 2,
  maxIntervalMs: 60_000,
  maxAttempts: 100,
  onMaxAttempts: "pause",
};
const RETENTION = 86_400_000;
const FOREVER = Number.MAX_SAFE_INTEGER;
const EMPTY = new Uint8Array(0);
const CANCELLED: Result = { err: { code: 409, message: "Cancelled" } };
const KILLED: Result = { err: { code: 409, message: "Killed" } };
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

function step(store: MemoryStore, body: RecordBody, header: Partial<RecordHeader> = {}): Action[] {
  return store.transaction(() => {
    const lsn = store.getAppliedLsn() + 1;
    const actions = apply(store, { lsn, header: { at: T0, ...header }, body });
    store.setAppliedLsn(lsn);
    return actions;
  });
}

function invoke(id: string, more: Partial<InvokeBody> = {}): InvokeBody {
  return {
    type: "invoke",
    invocationId: id,
    target: GREET,
    handlerKind: "service",
    argument: enc("Ada"),
    headers: {},
    retry: POLICY,
    retentionMs: RETENTION,
    ...more,
  };
}

const entry = (commandIndex: number, e: CommandEntry, epoch = 1, id = A): RecordBody => ({
  type: "entry",
  invocationId: id,
  attemptEpoch: epoch,
  commandIndex,
  entry: e,
});
const ack = (commandIndex: number, position: number, epoch = 1, id = A): Action => ({
  type: "ack",
  invocationId: id,
  attemptEpoch: epoch,
  commandIndex,
  position,
});
const notify = (e: NotificationEntry, position: number, epoch = 1, id = A): Action => ({
  type: "notify",
  invocationId: id,
  attemptEpoch: epoch,
  entry: e,
  position,
});
const completion = (completionId: number, value: NotificationValue): NotificationEntry => ({
  type: "completion",
  completionId,
  value,
});
const signal = (signalId: number, value: NotificationValue): NotificationEntry => ({
  type: "signal",
  signalId,
  value,
});
const CANCEL = signal(CANCEL_SIGNAL_ID, VOID);
const response = (completionId: number, result: Result, id = A): RecordBody => ({
  type: "invocation_response",
  invocationId: id,
  completionId,
  result,
});
const resolve = (signalId: number, result: Result, id = A): RecordBody => ({
  type: "resolve_awakeable",
  invocationId: id,
  signalId,
  result,
});
const runDone = (completionId: number, result: Result, epoch = 1, id = A): RecordBody => ({
  type: "run_completion",
  invocationId: id,
  attemptEpoch: epoch,
  completionId,
  result,
});
const suspend = (completions: number[], signals: number[] = [], epoch = 1, id = A): RecordBody => ({
  type: "suspend",
  invocationId: id,
  attemptEpoch: epoch,
  waitingCompletions: completions,
  waitingSignals: signals,
});
const sleep = (completionId: number, wakeUpAt: number): CommandEntry => ({
  type: "sleep",
  wakeUpAt,
  completionId,
});
const run = (name: string, completionId: number): CommandEntry => ({ type: "run", name, completionId });
const sleepTimer = (completionId: number, id = A) =>
  ({ kind: "sleep", invocationId: id, completionId }) as const;
/** A call whose callee id is notified on `idCompletion` and its result on `idCompletion + 1`. */
const call = (
  target: Target,
  arg: unknown,
  idCompletion: number,
  more: Partial<CommandEntry & { type: "call" }> = {},
): CommandEntry => ({
  type: "call",
  target,
  argument: enc(arg),
  headers: {},
  invocationIdCompletionId: idCompletion,
  resultCompletionId: idCompletion + 1,
  ...more,
});
const send = (
  target: Target,
  arg: unknown,
  idCompletion: number,
  more: Partial<CommandEntry & { type: "send" }> = {},
): CommandEntry => ({
  type: "send",
  target,
  argument: enc(arg),
  headers: {},
  invocationIdCompletionId: idCompletion,
  ...more,
});
/** The callee id that a call or send's actions notified. */
const calleeIdOf = (actions: Action[]): string => {
  for (const a of actions) {
    if (a.type === "notify" && a.entry.type === "completion" && "invocationId" in a.entry.value) {
      return a.entry.value.invocationId;
    }
  }
  throw new Error("no callee id was notified");
};
const outbox = (store: MemoryStore): OutboxMessage[] => store.listOutbox(0, 100).map((r) => r.message);

function tables(store: MemoryStore): unknown {
  const { appliedLsn: _lsn, ...rest } = store.dump() as { appliedLsn: number };
  return rest;
}

function started(more: Partial<InvokeBody> = {}): MemoryStore {
  const store = new MemoryStore(0);
  step(store, invoke(A, more));
  return store;
}

// ---------------------------------------------------------------------------------------------

describe("apply: sleep", () => {
  it("a sleep command writes a sleep timer for its completion id and arms it, then is acked", () => {
    const store = started();
    assert.deepEqual(step(store, entry(1, sleep(1, T0 + 1_000))), [
      { type: "schedule_timer", dueAt: T0 + 1_000, timer: sleepTimer(1) },
      ack(1, 1),
    ]);
    assert.deepEqual(store.listTimers(FOREVER, 100), [{ dueAt: T0 + 1_000, key: sleepTimer(1) }]);
    assert.deepEqual(store.getStatus(A)?.sleeps, [1]);
  });

  it("its timer_fired appends a void completion notification and notifies the running attempt", () => {
    const store = started();
    step(store, entry(1, sleep(1, T0 + 1_000)));
    const fired = step(store, { type: "timer_fired", timer: sleepTimer(1) }, { at: T0 + 1_000 });
    assert.deepEqual(fired, [notify(completion(1, VOID), 2)]);
    assert.deepEqual(store.getJournal(A).at(-1), completion(1, VOID));
    const s = store.getStatus(A);
    assert.equal(s?.journalLength, 3);
    assert.equal(s?.commandCount, 2);
    assert.deepEqual(s?.completed, [1]);
    assert.equal(s?.sleeps, undefined);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
    // Fired twice: dropped (invariant 4).
    const before = tables(store);
    assert.deepEqual(step(store, { type: "timer_fired", timer: sleepTimer(1) }), []);
    assert.deepEqual(tables(store), before);
  });

  it("when the invocation is suspended waiting on the sleep, the fire re-invokes it with epoch + 1", () => {
    const store = started();
    step(store, entry(1, sleep(1, T0 + 1_000)));
    assert.deepEqual(step(store, suspend([1], [CANCEL_SIGNAL_ID])), [{ type: "abort", invocationId: A }]);
    const fired = step(store, { type: "timer_fired", timer: sleepTimer(1) }, { at: T0 + 1_000 });
    assert.deepEqual(fired, [{ type: "invoke", invocationId: A, attemptEpoch: 2 }]);
    const s = store.getStatus(A);
    assert.equal(s?.state, "invoked");
    assert.equal(s?.waitingOn, undefined);
    assert.deepEqual(store.getJournal(A).at(-1), completion(1, VOID));
  });

  it("when suspended waiting on something else, the completion is journaled and it stays suspended", () => {
    const store = started();
    step(store, entry(1, sleep(1, T0 + 1_000)));
    step(store, suspend([], [17, CANCEL_SIGNAL_ID]));
    assert.deepEqual(step(store, { type: "timer_fired", timer: sleepTimer(1) }), []);
    assert.equal(store.getStatus(A)?.state, "suspended");
    assert.equal(store.getJournal(A).length, 3);
    assert.deepEqual(step(store, resolve(17, { ok: enc(1) })), [
      { type: "invoke", invocationId: A, attemptEpoch: 2 },
    ]);
  });
});

describe("apply: sleep timers that outlive their invocation", () => {
  it("a sleep timer of an invocation that completed meanwhile (output retained) changes nothing when it fires", () => {
    const store = started({ idempotencyKey: "k" });
    step(store, entry(1, sleep(1, T0 + 10_000)));
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result: { ok: EMPTY } });
    const before = tables(store);
    assert.deepEqual(step(store, { type: "timer_fired", timer: sleepTimer(1) }, { at: T0 + 10_000 }), []);
    const { timers: _t, ...rest } = before as { timers: unknown };
    const { timers: _t2, ...after } = tables(store) as { timers: unknown };
    assert.deepEqual(after, rest);
  });

  it("a sleep timer left by a finished invocation does not complete a completion id of a later invocation with the same id", () => {
    // A raced sleep (orTimeout) that lost: the invocation ends with its timer still armed.
    const store = started({ idempotencyKey: "k", retentionMs: 1_000 });
    step(store, entry(1, sleep(1, T0 + 10_000)));
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result: { ok: EMPTY } });
    step(store, { type: "timer_fired", timer: { kind: "cleanup", invocationId: A } }, { at: T0 + 1_000 });
    assert.equal(store.getStatus(A), undefined);
    // The same idempotency key again: the same invocation id, a new invocation.
    step(store, invoke(A, { idempotencyKey: "k", retentionMs: 1_000 }), { at: T0 + 2_000 });
    step(store, entry(1, run("r", 1)), { at: T0 + 2_001 });
    assert.deepEqual(step(store, { type: "timer_fired", timer: sleepTimer(1) }, { at: T0 + 10_000 }), []);
    assert.equal(store.getJournal(A).length, 2, "the new run must not be completed by the old sleep");
  });
});

describe("apply: calls and sends through the outbox (invariant 8)", () => {
  it("a call writes an invoke message with the caller and ships; the callee id is notified right after the ack", () => {
    const store = started();
    const c = call(MAIL, { to: "ada" }, 1);
    const actions = step(store, entry(1, c));
    const calleeId = derivedInvocationId(MAIL, A, 1, {});
    assert.deepEqual(actions, [
      { type: "ship_outbox" },
      ack(1, 1),
      notify(completion(1, { invocationId: calleeId }), 2),
    ]);
    assert.deepEqual(store.getJournal(A).slice(1), [c, completion(1, { invocationId: calleeId })]);
    assert.deepEqual(store.getStatus(A)?.completed, [1]);
    assert.ok(isInvocationId(calleeId), calleeId);
    assert.deepEqual(outbox(store), [
      {
        type: "invoke",
        fromHandler: true,
        invocationId: calleeId,
        target: MAIL,
        argument: enc({ to: "ada" }),
        headers: {},
        invokedBy: { invocationId: A, target: GREET },
        caller: { invocationId: A, completionId: 2 },
      },
    ]);
  });

  it("the caller the callee answers is the call's result completion id, not its command index or its id completion", () => {
    const store = started();
    step(store, entry(1, run("prepare", 1)));
    const c = call(MAIL, 1, 5);
    const actions = step(store, entry(2, c));
    const calleeId = derivedInvocationId(MAIL, A, 2, {});
    // The callee id notification follows the call command at once (positions 2 and 3).
    assert.deepEqual(actions, [
      { type: "ship_outbox" },
      ack(2, 2),
      notify(completion(5, { invocationId: calleeId }), 3),
    ]);
    assert.deepEqual(store.getJournal(A).slice(2), [c, completion(5, { invocationId: calleeId })]);
    assert.deepEqual((outbox(store)[0] as { caller?: Caller }).caller, { invocationId: A, completionId: 6 });
    // The callee's answer comes back on completion 6.
    const result: Result = { ok: enc("sent") };
    assert.deepEqual(step(store, response(6, result)), [notify(completion(6, result), 4)]);
  });

  it("the callee id is deterministic: the same record in a fresh store gives the same id; another command another id", () => {
    const idOf = (commandIndex: number, target: Target) => {
      const store = started();
      for (let k = 1; k < commandIndex; k++) step(store, entry(k, run(`r${k}`, k)));
      return calleeIdOf(step(store, entry(commandIndex, call(target, 1, commandIndex))));
    };
    assert.equal(idOf(1, MAIL), idOf(1, MAIL));
    assert.notEqual(idOf(1, MAIL), idOf(2, MAIL));
    // A keyed callee's id routes to the partition of its key.
    const keyed = idOf(1, ADD);
    assert.equal(keyed.slice(4, 20), partitionKeyFor(ADD, undefined, NO_RANDOM));
    assert.equal(idOf(3, ADD).slice(4, 20), partitionKeyFor(ADD, undefined, NO_RANDOM));
  });

  it("a call with an idempotency key names the key's invocation; a workflow run call names the workflow's run", () => {
    const store = started();
    const a1 = step(store, entry(1, call(MAIL, 1, 1, { idempotencyKey: "once" })));
    assert.equal(calleeIdOf(a1), idempotentInvocationId(MAIL, "once"));
    assert.equal((outbox(store)[0] as { idempotencyKey?: string }).idempotencyKey, "once");
    const wf: Target = { service: "Signup", handler: "run", key: "wf1" };
    const a2 = step(store, entry(2, call(wf, 1, 3, { workflow: true })));
    assert.equal(calleeIdOf(a2), workflowRunId("Signup", "wf1"));
  });

  it("a send has no caller; its callee id is notified; with delayMs the callee starts at the record's time + delay", () => {
    const store = started();
    const delayed = send(MAIL, 1, 1, { headers: { h: "v" }, delayMs: 5_000 });
    const actions = step(store, entry(1, delayed), { at: T0 + 10 });
    const calleeId = derivedInvocationId(MAIL, A, 1, {});
    assert.deepEqual(actions, [
      { type: "ship_outbox" },
      ack(1, 1),
      notify(completion(1, { invocationId: calleeId }), 2),
    ]);
    assert.deepEqual(outbox(store), [
      {
        type: "invoke",
        fromHandler: true,
        invocationId: calleeId,
        target: MAIL,
        argument: enc(1),
        headers: { h: "v" },
        invokedBy: { invocationId: A, target: GREET },
        executeAt: T0 + 10 + 5_000,
      },
    ]);
    step(store, entry(2, send(MAIL, 2, 2)));
    const msg = outbox(store)[1] as { executeAt?: number; caller?: Caller };
    assert.equal(msg.executeAt, undefined);
    assert.equal(msg.caller, undefined);
  });

  it("a send needs no result: it is not cancelled with the caller", () => {
    const store = started();
    step(store, entry(1, send(MAIL, 1, 1)));
    step(store, { type: "cancel", invocationId: A });
    assert.deepEqual(
      outbox(store).map((m) => m.type),
      ["invoke"],
    );
  });

  it("cancel_invocation writes a cancel message for the target", () => {
    const store = started();
    const c: CommandEntry = { type: "cancel_invocation", invocationId: B };
    assert.deepEqual(step(store, entry(1, c)), [{ type: "ship_outbox" }, ack(1, 1)]);
    assert.deepEqual(outbox(store), [{ type: "cancel", invocationId: B }]);
  });

  it("an invocation_response notifies the call's result completion: journaled and notified", () => {
    const store = started();
    step(store, entry(1, call(MAIL, 1, 1)));
    const result: Result = { ok: enc("sent") };
    assert.deepEqual(step(store, response(2, result)), [notify(completion(2, result), 3)]);
    assert.deepEqual(store.getJournal(A)[3], completion(2, result));
    assert.deepEqual(store.getStatus(A)?.completed, [1, 2]);
  });

  it("a failed response is journaled as the completion's failure", () => {
    const store = started();
    step(store, entry(1, call(MAIL, 1, 1)));
    const result: Result = { err: { code: 404, message: "unknown handler Mailer/send" } };
    assert.deepEqual(step(store, response(2, result)), [notify(completion(2, result), 3)]);
  });

  it("a duplicate notification of the same completion id is dropped, whatever record carries it (invariant 7)", () => {
    const store = started();
    step(store, entry(1, call(MAIL, 1, 1)));
    step(store, response(2, { ok: enc("first") }));
    const before = tables(store);
    assert.deepEqual(step(store, response(2, { ok: enc("second") })), []);
    // Completion 1 (the callee id) was notified when the call was journaled.
    assert.deepEqual(step(store, response(1, { ok: EMPTY })), []);
    assert.deepEqual(step(store, runDone(2, { ok: EMPTY })), []);
    assert.deepEqual(tables(store), before);
  });

  it("a response for an unknown or completed invocation is dropped", () => {
    const store = started({ idempotencyKey: "k" });
    step(store, entry(1, call(MAIL, 1, 1)));
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result: { ok: EMPTY } });
    const before = tables(store);
    assert.deepEqual(step(store, response(2, { ok: EMPTY })), []);
    assert.deepEqual(step(store, response(2, { ok: EMPTY }, B)), []);
    assert.deepEqual(tables(store), before);
  });

  it("several outbox rows in one record give one ship_outbox action", () => {
    const store = started();
    step(store, entry(1, call(MAIL, 1, 1)));
    step(store, entry(2, call(MAIL, 2, 3)));
    const actions = step(store, { type: "kill", invocationId: A });
    assert.equal(actions.filter((a) => a.type === "ship_outbox").length, 1);
    assert.equal(outbox(store).length, 4);
  });
});

describe("apply: awakeables are signals (invariant 7)", () => {
  it("resolve_awakeable notifies the awakeable's signal to the running attempt", () => {
    const store = started();
    step(store, entry(1, run("ask", 1)));
    const result: Result = { ok: enc({ approved: true }) };
    assert.deepEqual(step(store, resolve(17, result), { at: T0 + 3 }), [notify(signal(17, result), 2)]);
    assert.deepEqual(store.getJournal(A).at(-1), signal(17, result));
    const s = store.getStatus(A);
    assert.deepEqual(s?.signals, [17]);
    assert.equal(s?.completed, undefined);
    assert.equal(s?.journalLength, 3);
    assert.equal(s?.commandCount, 2);
    assert.equal(s?.modifiedAt, T0 + 3);
  });

  it("a resolution that arrives before anything waits on it is journaled at once (no early completions any more)", () => {
    const store = started();
    const result: Result = { ok: enc("early bird") };
    assert.deepEqual(step(store, resolve(17, result)), [notify(signal(17, result), 1)]);
    assert.deepEqual(store.getJournal(A).slice(1), [signal(17, result)]);
    // The next command goes after it.
    assert.deepEqual(step(store, entry(1, run("later", 1))), [ack(1, 2)]);
    assert.deepEqual(store.getStatus(A)?.signals, [17]);
  });

  it("an awakeable resolved twice (or resolved then rejected) gets one signal notification; the rest are dropped", () => {
    const store = started();
    const first: Result = { ok: enc(1) };
    assert.deepEqual(step(store, resolve(17, first)), [notify(signal(17, first), 1)]);
    const before = tables(store);
    assert.deepEqual(step(store, resolve(17, { ok: enc(2) })), []);
    assert.deepEqual(step(store, resolve(17, { err: { code: 500, message: "no" } })), []);
    assert.deepEqual(tables(store), before);
    assert.deepEqual(store.getJournal(A).slice(1), [signal(17, first)]);
  });

  it("signal ids and completion ids are separate: signal 18 and completion 18 are both notified", () => {
    const store = started();
    step(store, entry(1, run("r", 18)));
    assert.deepEqual(step(store, resolve(18, { ok: enc("s") })), [notify(signal(18, { ok: enc("s") }), 2)]);
    assert.deepEqual(step(store, runDone(18, { ok: enc("c") })), [
      notify(completion(18, { ok: enc("c") }), 3),
    ]);
  });

  it("a resolution for a suspended invocation that does not wait on that signal is journaled; it stays suspended", () => {
    const store = started();
    step(store, entry(1, run("r", 1)));
    step(store, suspend([1], [17, CANCEL_SIGNAL_ID]));
    assert.deepEqual(step(store, resolve(18, { ok: EMPTY })), []);
    assert.equal(store.getStatus(A)?.state, "suspended");
    assert.deepEqual(store.getJournal(A).at(-1), signal(18, { ok: EMPTY }));
    assert.deepEqual(step(store, resolve(17, { ok: EMPTY })), [
      { type: "invoke", invocationId: A, attemptEpoch: 2 },
    ]);
  });

  it("complete_awakeable from a handler writes a resolve_awakeable message for the owner's signal", () => {
    const store = started();
    const result: Result = { err: { code: 500, message: "declined" } };
    const c: CommandEntry = { type: "complete_awakeable", awakeableId: awakeableId(B, 37), result };
    assert.deepEqual(step(store, entry(1, c)), [{ type: "ship_outbox" }, ack(1, 1)]);
    assert.deepEqual(outbox(store), [{ type: "resolve_awakeable", invocationId: B, signalId: 37, result }]);
  });

  it("complete_awakeable with a malformed id (or one naming a reserved signal) is journaled but sends nothing", () => {
    const store = started();
    const reserved = awakeableId(B, CANCEL_SIGNAL_ID);
    for (const [k, id] of ["awk_nonsense", reserved].entries()) {
      const c: CommandEntry = { type: "complete_awakeable", awakeableId: id, result: { ok: EMPTY } };
      assert.deepEqual(step(store, entry(k + 1, c)), [ack(k + 1, k + 1)]);
    }
    assert.deepEqual(outbox(store), []);
  });
});

describe("apply: attach", () => {
  it("an attach command writes an attach_request for the target with the caller's completion id", () => {
    const store = started();
    const c: CommandEntry = { type: "attach", invocationId: B, completionId: 1 };
    assert.deepEqual(step(store, entry(1, c)), [{ type: "ship_outbox" }, ack(1, 1)]);
    assert.deepEqual(outbox(store), [
      { type: "attach_request", invocationId: B, caller: { invocationId: A, completionId: 1 } },
    ]);
  });

  it("attach to a completed (retained) invocation: its result goes back at once", () => {
    const store = started({ idempotencyKey: "k" });
    const result: Result = { ok: enc("done") };
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result });
    const caller: Caller = { invocationId: CALLER, completionId: 2 };
    assert.deepEqual(step(store, { type: "attach_request", invocationId: A, caller }), [
      { type: "ship_outbox" },
    ]);
    assert.deepEqual(outbox(store), [{ type: "invocation_response", ...caller, result }]);
  });

  it("attach to an unknown invocation: a 404 response", () => {
    const store = new MemoryStore(0);
    const caller: Caller = { invocationId: CALLER, completionId: 2 };
    assert.deepEqual(step(store, { type: "attach_request", invocationId: B, caller }), [
      { type: "ship_outbox" },
    ]);
    assert.deepEqual(outbox(store), [
      {
        type: "invocation_response",
        ...caller,
        result: { err: { code: 404, message: `invocation ${B} not found` } },
      },
    ]);
  });

  it("attach to a running invocation: the caller becomes a sink and is answered on completion", () => {
    const store = started();
    const caller: Caller = { invocationId: CALLER, completionId: 2 };
    assert.deepEqual(step(store, { type: "attach_request", invocationId: A, caller }), []);
    assert.deepEqual(store.getStatus(A)?.sinks, [caller]);
    assert.deepEqual(outbox(store), []);
    const result: Result = { ok: enc("late") };
    assert.deepEqual(step(store, { type: "end", invocationId: A, attemptEpoch: 1, result }), [
      { type: "completed", invocationId: A, result },
      { type: "ship_outbox" },
    ]);
    assert.deepEqual(outbox(store), [{ type: "invocation_response", ...caller, result }]);
  });
});

describe("apply: attach and get output by target (remote SDKs)", () => {
  const caller = (completionId: number): Caller => ({ invocationId: A, completionId });

  it("an attach by idempotency key asks the id that key names, as the ingress's attach path does", () => {
    const store = started();
    const c: CommandEntry = {
      type: "attach_target",
      idempotentRequest: { service: "Counter", key: "k1", handler: "add", idempotencyKey: "i1" },
      completionId: 1,
    };
    assert.deepEqual(step(store, entry(1, c)), [{ type: "ship_outbox" }, ack(1, 1)]);
    const target = idempotentInvocationId(ADD, "i1");
    assert.deepEqual(outbox(store), [{ type: "attach_request", invocationId: target, caller: caller(1) }]);
  });

  it("a get-output of a workflow asks its run's id, without waiting", () => {
    const store = started();
    const c: CommandEntry = {
      type: "get_output",
      workflowRun: { workflow: "Signup", workflowId: "w1" },
      completionId: 2,
    };
    step(store, entry(1, c));
    assert.deepEqual(outbox(store), [
      {
        type: "attach_request",
        invocationId: workflowRunId("Signup", "w1"),
        caller: caller(2),
        output: true,
      },
    ]);
  });

  it("get output: void while the target runs, its result once completed, 404 when unknown", () => {
    const store = started({ idempotencyKey: "k" });
    const c: Caller = { invocationId: CALLER, completionId: 3 };
    assert.deepEqual(step(store, { type: "attach_request", invocationId: A, caller: c, output: true }), [
      { type: "ship_outbox" },
    ]);
    assert.equal(store.getStatus(A)?.sinks, undefined, "a get-output does not wait");
    const result: Result = { err: { code: 418, message: "teapot", metadata: [{ key: "k", value: "v" }] } };
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result });
    step(store, { type: "attach_request", invocationId: A, caller: c, output: true });
    step(store, { type: "attach_request", invocationId: B, caller: c, output: true });
    assert.deepEqual(outbox(store), [
      { type: "invocation_response", ...c, result: { void: true } },
      { type: "invocation_response", ...c, result },
      {
        type: "invocation_response",
        ...c,
        result: { err: { code: 404, message: `invocation ${B} not found` } },
      },
    ]);
  });

  it("a void response is journaled as the get-output's void notification", () => {
    const store = started();
    step(store, entry(1, { type: "get_output", invocationId: B, completionId: 1 }));
    assert.deepEqual(step(store, response(1, { void: true } as unknown as Result)), [
      notify(completion(1, VOID), 2),
    ]);
  });
});

describe("apply: named signals (remote SDKs)", () => {
  const named = (name: string, value: NotificationValue): NotificationEntry => ({
    type: "named_signal",
    name,
    value,
  });

  it("a send by name goes to the target's partition through the outbox", () => {
    const store = started();
    const c: CommandEntry = {
      type: "send_named_signal",
      invocationId: B,
      name: "approved",
      value: { ok: enc(true) },
    };
    assert.deepEqual(step(store, entry(1, c)), [{ type: "ship_outbox" }, ack(1, 1)]);
    assert.deepEqual(outbox(store), [
      { type: "named_signal", invocationId: B, name: "approved", value: { ok: enc(true) } },
    ]);
  });

  it("is journaled each time it is sent, resumes an invocation suspended on it, and not one waiting on another name", () => {
    const store = started();
    step(store, { ...suspend([], []), waitingNamedSignals: ["approved"] } as RecordBody);
    assert.deepEqual(store.getStatus(A)?.waitingOn, {
      completionIds: [],
      signalIds: [],
      signalNames: ["approved"],
    });
    assert.deepEqual(
      step(store, { type: "named_signal", invocationId: A, name: "other", value: { void: true } }),
      [],
    );
    assert.equal(store.getStatus(A)?.state, "suspended");
    assert.deepEqual(
      step(store, { type: "named_signal", invocationId: A, name: "approved", value: { ok: enc(1) } }),
      [{ type: "invoke", invocationId: A, attemptEpoch: 2 }],
    );
    // A second signal of the name is journaled too (as restate-server does), for a second wait.
    assert.deepEqual(
      step(store, { type: "named_signal", invocationId: A, name: "approved", value: { ok: enc(2) } }),
      [
        {
          type: "notify",
          invocationId: A,
          attemptEpoch: 2,
          entry: named("approved", { ok: enc(2) }),
          position: 3,
        },
      ],
    );
    assert.deepEqual(store.getJournal(A).slice(1), [
      named("other", VOID),
      named("approved", { ok: enc(1) }),
      named("approved", { ok: enc(2) }),
    ]);
  });

  it("a suspension on a name resumes at once only for a signal the attempt had not seen", () => {
    const store = started();
    step(store, { type: "named_signal", invocationId: A, name: "go", value: { ok: enc(1) } });
    // The attempt saw the journal up to position 2 (input, the first "go") and waits for a second "go".
    const waiting = { ...suspend([], []), waitingNamedSignals: ["go"], seenJournalLength: 2 } as RecordBody;
    assert.deepEqual(step(store, waiting), [{ type: "abort", invocationId: A }]);
    assert.equal(store.getStatus(A)?.state, "suspended");
    assert.deepEqual(
      step(store, { type: "named_signal", invocationId: A, name: "go", value: { ok: enc(2) } }),
      [{ type: "invoke", invocationId: A, attemptEpoch: 2 }],
    );
    // Attempt 2 started from three entries but suspends having seen only two: the second "go" is new to it.
    assert.deepEqual(step(store, { ...waiting, attemptEpoch: 2, seenJournalLength: 2 } as RecordBody), [
      { type: "invoke", invocationId: A, attemptEpoch: 3 },
    ]);
  });

  it("a suspension on a name that already arrived re-invokes at once", () => {
    const store = started();
    step(store, { type: "named_signal", invocationId: A, name: "go", value: { void: true } });
    assert.deepEqual(step(store, { ...suspend([], []), waitingNamedSignals: ["go"] } as RecordBody), [
      { type: "invoke", invocationId: A, attemptEpoch: 2 },
    ]);
  });
});

describe("apply: suspend", () => {
  it("stores waitingOn, goes suspended, aborts the attempt; its later effects are dropped", () => {
    const store = started();
    step(store, entry(1, run("r", 1)));
    step(store, entry(2, sleep(2, T0 + 10)));
    assert.deepEqual(step(store, suspend([1, 2], [17, CANCEL_SIGNAL_ID]), { at: T0 + 5 }), [
      { type: "abort", invocationId: A },
    ]);
    const s = store.getStatus(A);
    assert.equal(s?.state, "suspended");
    assert.deepEqual(s?.waitingOn, { completionIds: [1, 2], signalIds: [17, CANCEL_SIGNAL_ID] });
    assert.equal(s?.attemptEpoch, 1);
    assert.equal(s?.modifiedAt, T0 + 5);
    assert.deepEqual(store.listInvoked(), []);
    const before = tables(store);
    assert.deepEqual(step(store, entry(3, run("zombie", 3))), []);
    assert.deepEqual(step(store, runDone(1, { ok: EMPTY })), []);
    assert.deepEqual(tables(store), before);
  });

  it("if a waited completion is already notified, it re-invokes at once (epoch + 1) instead", () => {
    const store = started();
    step(store, entry(1, run("r", 1)));
    step(store, runDone(1, { ok: EMPTY }));
    assert.deepEqual(step(store, suspend([1], [CANCEL_SIGNAL_ID]), { at: T0 + 5 }), [
      { type: "invoke", invocationId: A, attemptEpoch: 2 },
    ]);
    const s = store.getStatus(A);
    assert.equal(s?.state, "invoked");
    assert.equal(s?.waitingOn, undefined);
    assert.equal(s?.modifiedAt, T0 + 5);
  });

  it("if a waited signal is already notified, it re-invokes at once", () => {
    const store = started();
    step(store, resolve(17, { ok: EMPTY }));
    assert.deepEqual(step(store, suspend([], [17, CANCEL_SIGNAL_ID])), [
      { type: "invoke", invocationId: A, attemptEpoch: 2 },
    ]);
  });

  it("waiting on the cancel signal when cancel was already journaled: a new attempt at once", () => {
    const store = started();
    step(store, entry(1, run("r", 1)));
    assert.deepEqual(step(store, { type: "cancel", invocationId: A }), [notify(CANCEL, 2)]);
    assert.deepEqual(step(store, suspend([1], [CANCEL_SIGNAL_ID])), [
      { type: "invoke", invocationId: A, attemptEpoch: 2 },
    ]);
    assert.equal(store.getStatus(A)?.state, "invoked");
  });

  it("not waiting on the cancel signal (the attempt saw it; its compensation awaits) while it is journaled: it suspends", () => {
    const store = started();
    step(store, { type: "cancel", invocationId: A });
    step(store, entry(1, run("compensate", 1)));
    assert.deepEqual(step(store, suspend([1])), [{ type: "abort", invocationId: A }]);
    assert.equal(store.getStatus(A)?.state, "suspended");
    assert.deepEqual(
      step(store, runDone(1, { ok: EMPTY }, 1)),
      [],
      "a suspended attempt's proposal is a zombie's",
    );
  });

  it("a notification it does not wait for does not stop the suspension", () => {
    const store = started();
    step(store, entry(1, run("r1", 1)));
    step(store, entry(2, run("r2", 2)));
    step(store, runDone(2, { ok: EMPTY }));
    step(store, resolve(18, { ok: EMPTY }));
    assert.deepEqual(step(store, suspend([1], [17, CANCEL_SIGNAL_ID])), [{ type: "abort", invocationId: A }]);
    assert.equal(store.getStatus(A)?.state, "suspended");
  });

  it("a suspend from a stale epoch is dropped", () => {
    const store = started();
    step(store, entry(1, run("r", 1)));
    step(store, { type: "announce_leader", leaderEpoch: 1 });
    const before = tables(store);
    assert.deepEqual(step(store, suspend([1], [], 1)), []);
    assert.deepEqual(tables(store), before);
  });
});

describe("apply: cancel", () => {
  it("a scheduled invocation: completed with 409 Cancelled, timer gone, the caller answered", () => {
    const caller: Caller = { invocationId: CALLER, completionId: 1 };
    const store = started({ executeAt: T0 + 1_000, caller });
    assert.deepEqual(step(store, { type: "cancel", invocationId: A }), [
      { type: "completed", invocationId: A, result: CANCELLED },
      { type: "ship_outbox" },
    ]);
    assert.equal(store.getStatus(A), undefined);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
    assert.deepEqual(outbox(store), [{ type: "invocation_response", ...caller, result: CANCELLED }]);
  });

  it("an inboxed invocation: completed with 409 Cancelled and out of the inbox", () => {
    const store = new MemoryStore(0);
    step(store, invoke(B, { target: ADD, handlerKind: "exclusive" }));
    step(store, invoke(A, { target: ADD, handlerKind: "exclusive", idempotencyKey: "k" }));
    assert.deepEqual(step(store, { type: "cancel", invocationId: A }), [
      { type: "completed", invocationId: A, result: CANCELLED },
      { type: "schedule_timer", dueAt: T0 + RETENTION, timer: { kind: "cleanup", invocationId: A } },
    ]);
    assert.equal(store.getStatus(A)?.state, "completed");
    assert.deepEqual(store.getStatus(A)?.result, CANCELLED);
    // Nothing left to start when the holder completes.
    assert.deepEqual(step(store, { type: "end", invocationId: B, attemptEpoch: 1, result: { ok: EMPTY } }), [
      { type: "completed", invocationId: B, result: { ok: EMPTY } },
    ]);
  });

  it("an invoked invocation: the cancel signal is notified, and cancel messages go to its calls that have no result", () => {
    const store = started();
    step(store, entry(1, call(MAIL, 1, 1))); // journal: call, completion 1 (callee id)
    step(store, entry(2, call(MAIL, 2, 3))); // call, completion 3
    step(store, response(4, { ok: EMPTY })); // completion 4: the second call has its result
    step(store, entry(3, send(MAIL, 3, 5))); // send, completion 5
    step(store, entry(4, run("r", 6)));
    const pendingChild = derivedInvocationId(MAIL, A, 1, {});
    const before = outbox(store).length;
    assert.deepEqual(step(store, { type: "cancel", invocationId: A }), [
      { type: "ship_outbox" },
      notify(CANCEL, 9),
    ]);
    assert.deepEqual(outbox(store).slice(before), [{ type: "cancel", invocationId: pendingChild }]);
    assert.deepEqual(store.getJournal(A).at(-1), CANCEL);
    assert.deepEqual(store.getStatus(A)?.signals, [CANCEL_SIGNAL_ID]);
    assert.equal(store.getStatus(A)?.state, "invoked");
  });

  it("a second cancel notifies nothing more: the cancel signal is notified once", () => {
    const store = started();
    step(store, entry(1, run("r", 1)));
    assert.deepEqual(step(store, { type: "cancel", invocationId: A }), [notify(CANCEL, 2)]);
    const before = tables(store);
    assert.deepEqual(step(store, { type: "cancel", invocationId: A }), []);
    assert.deepEqual(tables(store), before);
  });

  it("a suspended invocation: the cancel signal re-invokes it, whether or not it waits on it", () => {
    for (const signals of [[CANCEL_SIGNAL_ID], []]) {
      const store = started();
      step(store, entry(1, run("r", 1)));
      step(store, suspend([1], signals));
      assert.deepEqual(step(store, { type: "cancel", invocationId: A }), [
        { type: "invoke", invocationId: A, attemptEpoch: 2 },
      ]);
      assert.deepEqual(store.getJournal(A).at(-1), CANCEL);
      assert.equal(store.getStatus(A)?.waitingOn, undefined);
    }
  });

  it("a backing-off invocation: the cancel signal is journaled and it is re-invoked at once, its retry timer gone", () => {
    const store = started();
    step(store, { type: "attempt_failed", invocationId: A, attemptEpoch: 1, message: "Error: x" });
    assert.deepEqual(step(store, { type: "cancel", invocationId: A }), [
      { type: "invoke", invocationId: A, attemptEpoch: 2 },
    ]);
    assert.deepEqual(store.getJournal(A).at(-1), CANCEL);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
    assert.equal(store.getStatus(A)?.nextRetryAt, undefined);
  });

  it("a completed invocation or an unknown one: nothing", () => {
    const store = started({ idempotencyKey: "k" });
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result: { ok: EMPTY } });
    const before = tables(store);
    assert.deepEqual(step(store, { type: "cancel", invocationId: A }), []);
    assert.deepEqual(step(store, { type: "cancel", invocationId: B }), []);
    assert.deepEqual(tables(store), before);
  });
});

describe("apply: kill", () => {
  it("an invoked invocation: kill messages to its pending calls, abort, completed with 409 Killed, the caller answered", () => {
    const caller: Caller = { invocationId: CALLER, completionId: 7 };
    const store = started({ caller });
    step(store, entry(1, call(MAIL, 1, 1)));
    const child = derivedInvocationId(MAIL, A, 1, {});
    assert.deepEqual(step(store, { type: "kill", invocationId: A }), [
      { type: "ship_outbox" },
      { type: "abort", invocationId: A },
      { type: "completed", invocationId: A, result: KILLED },
    ]);
    assert.deepEqual(outbox(store).slice(1), [
      { type: "kill", invocationId: child },
      { type: "invocation_response", ...caller, result: KILLED },
    ]);
    assert.equal(store.getStatus(A), undefined);
    assert.deepEqual(store.getJournal(A), []);
  });

  it("a suspended invocation: killed; its sleep timer firing later changes nothing", () => {
    const store = started();
    step(store, entry(1, sleep(1, T0 + 1_000)));
    step(store, suspend([1], [CANCEL_SIGNAL_ID]));
    assert.deepEqual(step(store, { type: "kill", invocationId: A }), [
      { type: "abort", invocationId: A },
      { type: "completed", invocationId: A, result: KILLED },
    ]);
    assert.deepEqual(step(store, { type: "timer_fired", timer: sleepTimer(1) }), []);
    assert.equal(store.getStatus(A), undefined);
  });

  it("a scheduled invocation: killed, its delayed_invoke timer deleted", () => {
    const store = started({ executeAt: T0 + 1_000, idempotencyKey: "k" });
    const actions = step(store, { type: "kill", invocationId: A });
    assert.deepEqual(actions.slice(0, 2), [
      { type: "abort", invocationId: A },
      { type: "completed", invocationId: A, result: KILLED },
    ]);
    assert.deepEqual(
      store.listTimers(FOREVER, 100).map((t) => t.key.kind),
      ["cleanup"],
    );
    assert.equal(store.getStatus(A)?.state, "completed");
  });

  it("a completed invocation: nothing", () => {
    const store = started({ idempotencyKey: "k" });
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result: { ok: EMPTY } });
    const before = tables(store);
    assert.deepEqual(step(store, { type: "kill", invocationId: A }), []);
    assert.deepEqual(tables(store), before);
  });
});
