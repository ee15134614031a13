// Proves apply handles everything that completes or interrupts a command (apply.ts invariants 4, 7, 8: sleeps and their timers, calls and sends through the outbox, responses, early and duplicate completions, awakeables, attach, suspension, cancel and kill), by golden tests: given this MemoryStore and this record, exactly these actions and these rows.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { awakeableId, type CommandEntry, type JournalEntry, type Result } from "@onelog/sdk/internal";
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
const ack = (commandIndex: number, e: CommandEntry, position: number, epoch = 1, id = A): Action => ({
  type: "ack",
  invocationId: id,
  attemptEpoch: epoch,
  commandIndex,
  entry: e,
  position,
});
const notify = (e: JournalEntry, position: number, epoch = 1, id = A): Action => ({
  type: "notify",
  invocationId: id,
  attemptEpoch: epoch,
  entry: e as Extract<Action, { type: "notify" }>["entry"],
  position,
});
const completion = (commandIndex: number, result: Result): JournalEntry => ({
  type: "completion",
  commandIndex,
  result,
});
const response = (commandIndex: number, result: Result, id = A): RecordBody => ({
  type: "invocation_response",
  invocationId: id,
  commandIndex,
  result,
});
const suspend = (waitingOn: number[], knownLength: number, epoch = 1, id = A): RecordBody => ({
  type: "suspend",
  invocationId: id,
  attemptEpoch: epoch,
  waitingOn,
  knownLength,
});
const sleepTimer = (commandIndex: number, id = A) =>
  ({ kind: "sleep", invocationId: id, commandIndex }) as const;
const call = (
  target: Target,
  arg: unknown,
  more: Partial<CommandEntry & { type: "call" }> = {},
): CommandEntry => ({
  type: "call",
  target,
  argument: enc(arg),
  headers: {},
  ...more,
});
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
  it("a sleep command writes a sleep timer for its command index and arms it, then is acked", () => {
    const store = started();
    const sleep: CommandEntry = { type: "sleep", wakeUpAt: T0 + 1_000 };
    assert.deepEqual(step(store, entry(1, sleep)), [
      { type: "schedule_timer", dueAt: T0 + 1_000, timer: sleepTimer(1) },
      ack(1, sleep, 1),
    ]);
    assert.deepEqual(store.listTimers(FOREVER, 100), [{ dueAt: T0 + 1_000, key: sleepTimer(1) }]);
  });

  it("its timer_fired appends a completion notification and notifies the running attempt", () => {
    const store = started();
    step(store, entry(1, { type: "sleep", wakeUpAt: T0 + 1_000 }));
    const fired = step(store, { type: "timer_fired", timer: sleepTimer(1) }, { at: T0 + 1_000 });
    assert.deepEqual(fired, [notify(completion(1, { ok: EMPTY }), 2)]);
    assert.deepEqual(store.getJournal(A).at(-1), completion(1, { ok: EMPTY }));
    const s = store.getStatus(A);
    assert.equal(s?.journalLength, 3);
    assert.equal(s?.commandCount, 2);
    assert.deepEqual(s?.completed, [1]);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
    // Fired twice: dropped (invariant 4).
    const before = tables(store);
    assert.deepEqual(step(store, { type: "timer_fired", timer: sleepTimer(1) }), []);
    assert.deepEqual(tables(store), before);
  });

  it("when the invocation is suspended waiting on the sleep, the fire re-invokes it with epoch + 1", () => {
    const store = started();
    step(store, entry(1, { type: "sleep", wakeUpAt: T0 + 1_000 }));
    assert.deepEqual(step(store, suspend([1], 2)), [{ type: "abort", invocationId: A }]);
    const fired = step(store, { type: "timer_fired", timer: sleepTimer(1) }, { at: T0 + 1_000 });
    assert.deepEqual(fired, [{ type: "invoke", invocationId: A, attemptEpoch: 2 }]);
    const s = store.getStatus(A);
    assert.equal(s?.state, "invoked");
    assert.equal(s?.waitingOn, undefined);
    assert.deepEqual(store.getJournal(A).at(-1), completion(1, { ok: EMPTY }));
  });

  it("when suspended waiting on something else, the completion is journaled and it stays suspended", () => {
    const store = started();
    step(store, entry(1, { type: "sleep", wakeUpAt: T0 + 1_000 }));
    step(store, entry(2, { type: "awakeable" }));
    step(store, suspend([2], 3));
    assert.deepEqual(step(store, { type: "timer_fired", timer: sleepTimer(1) }), []);
    assert.equal(store.getStatus(A)?.state, "suspended");
    assert.equal(store.getJournal(A).length, 4);
    assert.deepEqual(
      step(store, { type: "resolve_awakeable", invocationId: A, commandIndex: 2, result: { ok: enc(1) } }),
      [{ type: "invoke", invocationId: A, attemptEpoch: 2 }],
    );
  });
});

describe("apply: sleep timers that outlive their invocation", () => {
  it("a sleep timer of an invocation that completed meanwhile (output retained) changes nothing when it fires", () => {
    const store = started({ idempotencyKey: "k" });
    step(store, entry(1, { type: "sleep", wakeUpAt: T0 + 10_000 }));
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result: { ok: EMPTY } });
    const before = tables(store);
    assert.deepEqual(step(store, { type: "timer_fired", timer: sleepTimer(1) }, { at: T0 + 10_000 }), []);
    const { timers: _t, ...rest } = before as { timers: unknown };
    const { timers: _t2, ...after } = tables(store) as { timers: unknown };
    assert.deepEqual(after, rest);
  });

  it("a sleep timer left by a finished invocation does not complete a command of a later invocation with the same id", () => {
    // A raced sleep (orTimeout) that lost: the invocation ends with its timer still armed.
    const store = started({ idempotencyKey: "k", retentionMs: 1_000 });
    step(store, entry(1, { type: "sleep", wakeUpAt: T0 + 10_000 }));
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result: { ok: EMPTY } });
    step(store, { type: "timer_fired", timer: { kind: "cleanup", invocationId: A } }, { at: T0 + 1_000 });
    assert.equal(store.getStatus(A), undefined);
    // The same idempotency key again: the same invocation id, a new invocation.
    step(store, invoke(A, { idempotencyKey: "k", retentionMs: 1_000 }), { at: T0 + 2_000 });
    step(store, entry(1, { type: "awakeable" }), { at: T0 + 2_001 });
    assert.deepEqual(step(store, { type: "timer_fired", timer: sleepTimer(1) }, { at: T0 + 10_000 }), []);
    assert.equal(store.getJournal(A).length, 2, "the new awakeable must not be completed by the old sleep");
  });
});

describe("apply: calls and sends through the outbox (invariant 8)", () => {
  it("a call writes an invoke message with the caller, fills the callee id into the journaled entry, and ships", () => {
    const store = started();
    const c = call(MAIL, { to: "ada" });
    const actions = step(store, entry(1, c));
    const calleeId = derivedInvocationId(MAIL, A, 1, {});
    const journaled = { ...c, invocationId: calleeId } as CommandEntry;
    assert.deepEqual(actions, [{ type: "ship_outbox" }, ack(1, journaled, 1)]);
    assert.deepEqual(store.getJournal(A)[1], journaled);
    assert.ok(isInvocationId(calleeId), calleeId);
    assert.deepEqual(outbox(store), [
      {
        type: "invoke",
        fromHandler: true,
        invocationId: calleeId,
        target: MAIL,
        argument: enc({ to: "ada" }),
        headers: {},
        caller: { invocationId: A, commandIndex: 1 },
      },
    ]);
  });

  it("the callee id is deterministic: the same record in a fresh store gives the same id; another command another id", () => {
    const idOf = (commandIndex: number, target: Target) => {
      const store = started();
      for (let k = 1; k < commandIndex; k++)
        step(store, entry(k, { type: "run", name: `r${k}`, result: { ok: EMPTY } }));
      const [, a] = step(store, entry(commandIndex, call(target, 1)));
      return (a as { entry: { invocationId: string } }).entry.invocationId;
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
    const [, a1] = step(store, entry(1, call(MAIL, 1, { idempotencyKey: "once" })));
    assert.equal(
      (a1 as { entry: { invocationId: string } }).entry.invocationId,
      idempotentInvocationId(MAIL, "once"),
    );
    assert.equal((outbox(store)[0] as { idempotencyKey?: string }).idempotencyKey, "once");
    const run: Target = { service: "Signup", handler: "run", key: "wf1" };
    const [, a2] = step(store, entry(2, call(run, 1, { workflow: true })));
    assert.equal(
      (a2 as { entry: { invocationId: string } }).entry.invocationId,
      workflowRunId("Signup", "wf1"),
    );
  });

  it("a send has no caller; with delayMs the callee starts at the record's time + delay", () => {
    const store = started();
    const send: CommandEntry = {
      type: "send",
      target: MAIL,
      argument: enc(1),
      headers: { h: "v" },
      delayMs: 5_000,
    };
    const actions = step(store, entry(1, send), { at: T0 + 10 });
    const calleeId = derivedInvocationId(MAIL, A, 1, {});
    assert.deepEqual(actions, [{ type: "ship_outbox" }, ack(1, { ...send, invocationId: calleeId }, 1)]);
    assert.deepEqual(outbox(store), [
      {
        type: "invoke",
        fromHandler: true,
        invocationId: calleeId,
        target: MAIL,
        argument: enc(1),
        headers: { h: "v" },
        executeAt: T0 + 10 + 5_000,
      },
    ]);
    const plain: CommandEntry = { type: "send", target: MAIL, argument: enc(2), headers: {} };
    step(store, entry(2, plain));
    const msg = outbox(store)[1] as { executeAt?: number; caller?: Caller };
    assert.equal(msg.executeAt, undefined);
    assert.equal(msg.caller, undefined);
  });

  it("a send needs no completion: it is not awaited by a suspension nor cancelled with the caller", () => {
    const store = started();
    step(store, entry(1, { type: "send", target: MAIL, argument: enc(1), headers: {} }));
    step(store, { type: "cancel", invocationId: A });
    assert.deepEqual(
      outbox(store).map((m) => m.type),
      ["invoke"],
    );
  });

  it("cancel_invocation writes a cancel message for the target", () => {
    const store = started();
    const c: CommandEntry = { type: "cancel_invocation", invocationId: B };
    assert.deepEqual(step(store, entry(1, c)), [{ type: "ship_outbox" }, ack(1, c, 1)]);
    assert.deepEqual(outbox(store), [{ type: "cancel", invocationId: B }]);
  });

  it("an invocation_response completes the caller's command: journaled and notified", () => {
    const store = started();
    step(store, entry(1, call(MAIL, 1)));
    const result: Result = { ok: enc("sent") };
    assert.deepEqual(step(store, response(1, result)), [notify(completion(1, result), 2)]);
    assert.deepEqual(store.getJournal(A)[2], completion(1, result));
    assert.deepEqual(store.getStatus(A)?.completed, [1]);
  });

  it("a failed response is journaled as the command's failure", () => {
    const store = started();
    step(store, entry(1, call(MAIL, 1)));
    const result: Result = { err: { code: 404, message: "unknown handler Mailer/send" } };
    assert.deepEqual(step(store, response(1, result)), [notify(completion(1, result), 2)]);
  });

  it("a duplicate completion of the same command is dropped (invariant 7)", () => {
    const store = started();
    step(store, entry(1, call(MAIL, 1)));
    step(store, response(1, { ok: enc("first") }));
    const before = tables(store);
    assert.deepEqual(step(store, response(1, { ok: enc("second") })), []);
    assert.deepEqual(
      step(store, { type: "resolve_awakeable", invocationId: A, commandIndex: 1, result: { ok: EMPTY } }),
      [],
    );
    assert.deepEqual(tables(store), before);
  });

  it("a response for an unknown or completed invocation is dropped", () => {
    const store = started({ idempotencyKey: "k" });
    step(store, entry(1, call(MAIL, 1)));
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result: { ok: EMPTY } });
    const before = tables(store);
    assert.deepEqual(step(store, response(1, { ok: EMPTY })), []);
    assert.deepEqual(step(store, response(1, { ok: EMPTY }, B)), []);
    assert.deepEqual(tables(store), before);
  });

  it("several outbox rows in one record give one ship_outbox action", () => {
    const store = started();
    step(store, entry(1, call(MAIL, 1)));
    step(store, entry(2, call(MAIL, 2)));
    const actions = step(store, { type: "kill", invocationId: A });
    assert.equal(actions.filter((a) => a.type === "ship_outbox").length, 1);
    assert.equal(outbox(store).length, 4);
  });
});

describe("apply: early completions (invariant 7)", () => {
  it("a completion for a command not journaled yet is kept, and appended right after the command", () => {
    const store = started();
    const result: Result = { ok: enc("early bird") };
    assert.deepEqual(
      step(store, { type: "resolve_awakeable", invocationId: A, commandIndex: 1, result }),
      [],
    );
    assert.deepEqual(store.getStatus(A)?.early, [{ commandIndex: 1, result }]);
    assert.equal(store.getJournal(A).length, 1);
    const awk: CommandEntry = { type: "awakeable" };
    assert.deepEqual(step(store, entry(1, awk)), [ack(1, awk, 1), notify(completion(1, result), 2)]);
    assert.deepEqual(store.getJournal(A).slice(1), [awk, completion(1, result)]);
    assert.deepEqual(store.getStatus(A)?.early ?? [], []);
    assert.deepEqual(store.getStatus(A)?.completed, [1]);
  });

  it("an early completion is kept once: a duplicate before the command and one after it are dropped", () => {
    const store = started();
    const first: Result = { ok: enc(1) };
    step(store, { type: "resolve_awakeable", invocationId: A, commandIndex: 2, result: first });
    const before = tables(store);
    assert.deepEqual(
      step(store, { type: "resolve_awakeable", invocationId: A, commandIndex: 2, result: { ok: enc(2) } }),
      [],
    );
    assert.deepEqual(tables(store), before);
    step(store, entry(1, { type: "run", name: "x", result: { ok: EMPTY } }));
    // Command 1 is not command 2: the early completion waits.
    assert.equal(store.getJournal(A).length, 2);
    const actions = step(store, entry(2, { type: "awakeable" }));
    assert.deepEqual(actions.at(-1), notify(completion(2, first), 3));
    assert.deepEqual(
      step(store, { type: "resolve_awakeable", invocationId: A, commandIndex: 2, result: { ok: enc(3) } }),
      [],
    );
  });
});

describe("apply: awakeables", () => {
  it("an awakeable command is acked; resolve_awakeable completes it", () => {
    const store = started();
    const awk: CommandEntry = { type: "awakeable" };
    assert.deepEqual(step(store, entry(1, awk)), [ack(1, awk, 1)]);
    const result: Result = { ok: enc({ approved: true }) };
    assert.deepEqual(step(store, { type: "resolve_awakeable", invocationId: A, commandIndex: 1, result }), [
      notify(completion(1, result), 2),
    ]);
  });

  it("complete_awakeable from a handler writes a resolve_awakeable message for the owner's command", () => {
    const store = started();
    const result: Result = { err: { code: 500, message: "declined" } };
    const c: CommandEntry = { type: "complete_awakeable", awakeableId: awakeableId(B, 37), result };
    assert.deepEqual(step(store, entry(1, c)), [{ type: "ship_outbox" }, ack(1, c, 1)]);
    assert.deepEqual(outbox(store), [
      { type: "resolve_awakeable", invocationId: B, commandIndex: 37, result },
    ]);
  });
});

describe("apply: attach", () => {
  it("an attach command writes an attach_request for the target with the caller", () => {
    const store = started();
    const c: CommandEntry = { type: "attach", invocationId: B };
    assert.deepEqual(step(store, entry(1, c)), [{ type: "ship_outbox" }, ack(1, c, 1)]);
    assert.deepEqual(outbox(store), [
      { type: "attach_request", invocationId: B, caller: { invocationId: A, commandIndex: 1 } },
    ]);
  });

  it("attach to a completed (retained) invocation: its result goes back at once", () => {
    const store = started({ idempotencyKey: "k" });
    const result: Result = { ok: enc("done") };
    step(store, { type: "end", invocationId: A, attemptEpoch: 1, result });
    const caller: Caller = { invocationId: CALLER, commandIndex: 2 };
    assert.deepEqual(step(store, { type: "attach_request", invocationId: A, caller }), [
      { type: "ship_outbox" },
    ]);
    assert.deepEqual(outbox(store), [{ type: "invocation_response", ...caller, result }]);
  });

  it("attach to an unknown invocation: a 404 response", () => {
    const store = new MemoryStore(0);
    const caller: Caller = { invocationId: CALLER, commandIndex: 2 };
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
    const caller: Caller = { invocationId: CALLER, commandIndex: 2 };
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

describe("apply: suspend", () => {
  it("stores waitingOn, goes suspended, aborts the attempt; its later effects are dropped", () => {
    const store = started();
    step(store, entry(1, { type: "awakeable" }));
    step(store, entry(2, { type: "sleep", wakeUpAt: T0 + 10 }));
    assert.deepEqual(step(store, suspend([1, 2], 3), { at: T0 + 5 }), [{ type: "abort", invocationId: A }]);
    const s = store.getStatus(A);
    assert.equal(s?.state, "suspended");
    assert.deepEqual(s?.waitingOn, [1, 2]);
    assert.equal(s?.attemptEpoch, 1);
    assert.equal(s?.modifiedAt, T0 + 5);
    assert.deepEqual(store.listInvoked(), []);
    const before = tables(store);
    assert.deepEqual(step(store, entry(3, { type: "run", name: "zombie", result: { ok: EMPTY } })), []);
    assert.deepEqual(tables(store), before);
  });

  it("if the journal grew past knownLength, it re-invokes at once (epoch + 1) instead", () => {
    const store = started();
    step(store, entry(1, { type: "awakeable" }));
    step(store, entry(2, { type: "awakeable" }));
    step(store, { type: "resolve_awakeable", invocationId: A, commandIndex: 2, result: { ok: EMPTY } });
    // The attempt had seen 3 entries, not the completion at position 3.
    assert.deepEqual(step(store, suspend([1], 3)), [{ type: "invoke", invocationId: A, attemptEpoch: 2 }]);
    assert.equal(store.getStatus(A)?.state, "invoked");
  });

  it("if a waited command is already completed, it re-invokes at once", () => {
    const store = started();
    step(store, entry(1, { type: "awakeable" }));
    step(store, { type: "resolve_awakeable", invocationId: A, commandIndex: 1, result: { ok: EMPTY } });
    assert.deepEqual(step(store, suspend([1], 3)), [{ type: "invoke", invocationId: A, attemptEpoch: 2 }]);
  });

  it("a suspend from a stale epoch is dropped", () => {
    const store = started();
    step(store, entry(1, { type: "awakeable" }));
    step(store, { type: "announce_leader", leaderEpoch: 1 });
    const before = tables(store);
    assert.deepEqual(step(store, suspend([1], 2, 1)), []);
    assert.deepEqual(tables(store), before);
  });
});

describe("apply: cancel", () => {
  it("a scheduled invocation: completed with 409 Cancelled, timer gone, the caller answered", () => {
    const caller: Caller = { invocationId: CALLER, commandIndex: 1 };
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

  it("an invoked invocation: a cancel_signal notification, and cancel messages to its calls that have no result", () => {
    const store = started();
    step(store, entry(1, call(MAIL, 1)));
    step(store, entry(2, call(MAIL, 2)));
    step(store, response(2, { ok: EMPTY }));
    step(store, entry(3, { type: "send", target: MAIL, argument: enc(3), headers: {} }));
    step(store, entry(4, { type: "awakeable" }));
    const pendingChild = derivedInvocationId(MAIL, A, 1, {});
    const before = outbox(store).length;
    assert.deepEqual(step(store, { type: "cancel", invocationId: A }), [
      { type: "ship_outbox" },
      notify({ type: "cancel_signal" }, 6),
    ]);
    assert.deepEqual(outbox(store).slice(before), [{ type: "cancel", invocationId: pendingChild }]);
    assert.deepEqual(store.getJournal(A).at(-1), { type: "cancel_signal" });
    assert.equal(store.getStatus(A)?.state, "invoked");
  });

  it("a suspended invocation: the cancel_signal re-invokes it", () => {
    const store = started();
    step(store, entry(1, { type: "awakeable" }));
    step(store, suspend([1], 2));
    assert.deepEqual(step(store, { type: "cancel", invocationId: A }), [
      { type: "invoke", invocationId: A, attemptEpoch: 2 },
    ]);
    assert.deepEqual(store.getJournal(A).at(-1), { type: "cancel_signal" });
  });

  it("a backing-off invocation: the cancel_signal is journaled and it is re-invoked at once, its retry timer gone", () => {
    const store = started();
    step(store, { type: "attempt_failed", invocationId: A, attemptEpoch: 1, message: "Error: x" });
    assert.deepEqual(step(store, { type: "cancel", invocationId: A }), [
      { type: "invoke", invocationId: A, attemptEpoch: 2 },
    ]);
    assert.deepEqual(store.getJournal(A).at(-1), { type: "cancel_signal" });
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
    const caller: Caller = { invocationId: CALLER, commandIndex: 7 };
    const store = started({ caller });
    step(store, entry(1, call(MAIL, 1)));
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
    step(store, entry(1, { type: "sleep", wakeUpAt: T0 + 1_000 }));
    step(store, suspend([1], 2));
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
