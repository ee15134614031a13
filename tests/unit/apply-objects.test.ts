// Proves apply keeps virtual objects and workflows right (apply.ts invariants 6–7: key locks and FIFO inboxes, shared handlers never lock, state commands and lazily read state notified at once, durable promises and their notifications, workflow retention and cleanup), by golden tests: given this MemoryStore and this record, exactly these actions and these rows.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { VOID, type CommandEntry, type NotificationValue, type Result } from "@onelog/sdk/internal";
import { apply, type Action } from "../../packages/onelog/src/internal/partition/apply.js";
import type {
  HandlerKind,
  InvokeBody,
  RecordBody,
  RecordHeader,
  RetryPolicy,
  Target,
} from "../../packages/onelog/src/internal/partition/records.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import type { InvocationStatus } from "../../packages/onelog/src/internal/partition/store/store.js";

// ---------------------------------------------------------------------------------------------
// Helpers

const T0 = 1_700_000_000_000;
const A = "inv_00000000000000000000000000000000000000a1";
const B = "inv_00000000000000000000000000000000000000b2";
const C = "inv_00000000000000000000000000000000000000c3";
const D = "inv_00000000000000000000000000000000000000d4";
const ADD: Target = { service: "Counter", handler: "add", key: "k1" };
const READ: Target = { service: "Counter", handler: "read", key: "k1" };
const ADD_K2: Target = { service: "Counter", handler: "add", key: "k2" };
const RUN: Target = { service: "Signup", handler: "run", key: "wf1" };
const CLICK: Target = { service: "Signup", handler: "click", key: "wf1" };
const POLICY: RetryPolicy = {
  initialIntervalMs: 50,
  factor: 2,
  maxIntervalMs: 60_000,
  maxAttempts: 100,
  onMaxAttempts: "pause",
};
const RETENTION = 86_400_000;
const FOREVER = Number.MAX_SAFE_INTEGER;
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

function step(store: MemoryStore, body: RecordBody, header: Partial<RecordHeader> = {}): Action[] {
  return store.transaction(() => {
    const lsn = store.getAppliedLsn() + 1;
    const actions = apply(store, { lsn, header: { at: T0, ...header }, body });
    store.setAppliedLsn(lsn);
    return actions;
  });
}

function invoke(
  id: string,
  target: Target,
  handlerKind: HandlerKind,
  more: Partial<InvokeBody> = {},
): InvokeBody {
  return {
    type: "invoke",
    invocationId: id,
    target,
    handlerKind,
    argument: enc(1),
    headers: {},
    retry: POLICY,
    retentionMs: RETENTION,
    ...more,
  };
}

const entry = (id: string, commandIndex: number, e: CommandEntry, epoch = 1): RecordBody => ({
  type: "entry",
  invocationId: id,
  attemptEpoch: epoch,
  commandIndex,
  entry: e,
});
const end = (id: string, result: Result = { ok: enc("ok") }, epoch = 1): RecordBody => ({
  type: "end",
  invocationId: id,
  attemptEpoch: epoch,
  result,
});
const invokeAction = (id: string, epoch = 1): Action => ({
  type: "invoke",
  invocationId: id,
  attemptEpoch: epoch,
});
const completed = (id: string, result: Result = { ok: enc("ok") }): Action => ({
  type: "completed",
  invocationId: id,
  result,
});
const ack = (id: string, commandIndex: number, position: number, epoch = 1): Action => ({
  type: "ack",
  invocationId: id,
  attemptEpoch: epoch,
  commandIndex,
  position,
});
/** Notification of `completionId` to attempt `epoch` of `id`, at journal `position`. */
const notify = (
  id: string,
  completionId: number,
  value: NotificationValue,
  position: number,
  epoch = 1,
): Action => ({
  type: "notify",
  invocationId: id,
  attemptEpoch: epoch,
  entry: { type: "completion", completionId, value },
  position,
});

function tables(store: MemoryStore): unknown {
  const { appliedLsn: _lsn, ...rest } = store.dump() as { appliedLsn: number };
  return rest;
}

const set = (key: string, v: unknown): CommandEntry => ({ type: "set_state", key, value: enc(v) });

// ---------------------------------------------------------------------------------------------

describe("apply: exclusive object handlers take the key's lock (invariant 6)", () => {
  it("the first exclusive invocation of a key takes the lock and starts", () => {
    const store = new MemoryStore(0);
    assert.deepEqual(step(store, invoke(A, ADD, "exclusive")), [invokeAction(A)]);
    assert.equal(store.getLock("Counter", "k1"), A);
    assert.equal(store.getStatus(A)?.handlerKind, "exclusive");
    assert.equal(store.getStatus(A)?.state, "invoked");
  });

  it("a second one for the same key is inboxed: no action, epoch 0, input journaled, lock unchanged", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    assert.deepEqual(step(store, invoke(B, ADD, "exclusive"), { at: T0 + 1 }), []);
    const expected: InvocationStatus = {
      invocationId: B,
      target: ADD,
      handlerKind: "exclusive",
      state: "inboxed",
      attemptEpoch: 0,
      retryCount: 0,
      journalLength: 1,
      commandCount: 1,
      retry: POLICY,
      retentionMs: RETENTION,
      createdAt: T0 + 1,
      createdLsn: 2,
      modifiedAt: T0 + 1,
    };
    assert.deepEqual(store.getStatus(B), expected);
    assert.deepEqual(store.getJournal(B), [{ type: "input", argument: enc(1), headers: {} }]);
    assert.equal(store.getLock("Counter", "k1"), A);
    assert.deepEqual(store.listInvoked(), [A]);
  });

  it("when the holder completes, the lock passes to the oldest inboxed one, which starts; then the next, in FIFO order", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, invoke(B, ADD, "exclusive"));
    step(store, invoke(C, ADD, "exclusive"));
    step(store, invoke(D, { ...ADD, handler: "reset" }, "exclusive"));

    assert.deepEqual(step(store, end(A)), [completed(A), invokeAction(B)]);
    assert.equal(store.getLock("Counter", "k1"), B);
    assert.equal(store.getStatus(B)?.state, "invoked");
    assert.equal(store.getStatus(C)?.state, "inboxed");

    assert.deepEqual(step(store, end(B)), [completed(B), invokeAction(C)]);
    assert.equal(store.getLock("Counter", "k1"), C);
    assert.deepEqual(step(store, end(C)), [completed(C), invokeAction(D)]);
    assert.deepEqual(step(store, end(D)), [completed(D)]);
    assert.equal(store.getLock("Counter", "k1"), undefined);
  });

  it("a terminal failure releases the lock like a success", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, invoke(B, ADD, "exclusive"));
    const err: Result = { err: { code: 400, message: "bad" } };
    assert.deepEqual(step(store, end(A, err)), [completed(A, err), invokeAction(B)]);
  });

  it("a holder backing off, suspended or paused keeps the lock; the inboxed one waits", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, { type: "attempt_failed", invocationId: A, attemptEpoch: 1, message: "Error: x" });
    assert.deepEqual(step(store, invoke(B, ADD, "exclusive")), []);
    step(store, { type: "timer_fired", timer: { kind: "retry", invocationId: A } });
    step(store, entry(A, 1, { type: "run", name: "r", completionId: 1 }, 2));
    step(store, {
      type: "suspend",
      invocationId: A,
      attemptEpoch: 2,
      waitingCompletions: [1],
      waitingSignals: [1],
    });
    assert.equal(store.getStatus(A)?.state, "suspended");
    step(store, { type: "pause", invocationId: A });
    assert.equal(store.getLock("Counter", "k1"), A);
    assert.equal(store.getStatus(B)?.state, "inboxed");
  });

  it("other keys and other objects are not blocked", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    assert.deepEqual(step(store, invoke(B, ADD_K2, "exclusive")), [invokeAction(B)]);
    assert.deepEqual(step(store, invoke(C, { service: "Other", handler: "add", key: "k1" }, "exclusive")), [
      invokeAction(C),
    ]);
    assert.equal(store.getLock("Counter", "k2"), B);
    assert.equal(store.getLock("Other", "k1"), C);
  });

  it("a delayed exclusive invocation takes the lock only when its timer fires, and queues if it is held then", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive", { executeAt: T0 + 100 }));
    assert.equal(store.getLock("Counter", "k1"), undefined);
    step(store, invoke(B, ADD, "exclusive"));
    assert.equal(store.getLock("Counter", "k1"), B);
    assert.deepEqual(
      step(store, { type: "timer_fired", timer: { kind: "delayed_invoke", invocationId: A } }),
      [],
    );
    assert.equal(store.getStatus(A)?.state, "inboxed");
    assert.deepEqual(step(store, end(B)), [completed(B), invokeAction(A)]);
  });

  it("a cancelled inboxed invocation leaves the queue: the lock skips it", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, invoke(B, ADD, "exclusive"));
    step(store, invoke(C, ADD, "exclusive"));
    const cancelled: Result = { err: { code: 409, message: "Cancelled" } };
    assert.deepEqual(step(store, { type: "cancel", invocationId: B }), [completed(B, cancelled)]);
    assert.equal(store.getStatus(B), undefined);
    assert.deepEqual(step(store, end(A)), [completed(A), invokeAction(C)]);
  });

  it("killing the holder passes the lock on", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, invoke(B, ADD, "exclusive"));
    const killed: Result = { err: { code: 409, message: "Killed" } };
    assert.deepEqual(step(store, { type: "kill", invocationId: A }), [
      { type: "abort", invocationId: A },
      completed(A, killed),
      invokeAction(B),
    ]);
    assert.equal(store.getLock("Counter", "k1"), B);
  });

  it("attempts used up with onMaxAttempts kill pass the lock on", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive", { retry: { ...POLICY, maxAttempts: 1, onMaxAttempts: "kill" } }));
    step(store, invoke(B, ADD, "exclusive"));
    const actions = step(store, { type: "attempt_failed", invocationId: A, attemptEpoch: 1, message: "E" });
    assert.deepEqual(actions.at(-1), invokeAction(B));
  });
});

describe("apply: shared handlers never lock", () => {
  it("a shared invocation starts while an exclusive one holds the key, and does not touch lock or inbox", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, invoke(B, ADD, "exclusive"));
    assert.deepEqual(step(store, invoke(C, READ, "shared")), [invokeAction(C)]);
    assert.equal(store.getLock("Counter", "k1"), A);
    // Its completion passes nothing on.
    assert.deepEqual(step(store, end(C)), [completed(C)]);
    assert.equal(store.getLock("Counter", "k1"), A);
    assert.equal(store.getStatus(B)?.state, "inboxed");
  });

  it("shared invocations of one key run concurrently and take no lock when none is held", () => {
    const store = new MemoryStore(0);
    assert.deepEqual(step(store, invoke(A, READ, "shared")), [invokeAction(A)]);
    assert.deepEqual(step(store, invoke(B, READ, "shared")), [invokeAction(B)]);
    assert.equal(store.getLock("Counter", "k1"), undefined);
    // An exclusive one is not blocked by them.
    assert.deepEqual(step(store, invoke(C, ADD, "exclusive")), [invokeAction(C)]);
  });

  it("service handlers never lock either", () => {
    const store = new MemoryStore(0);
    assert.deepEqual(step(store, invoke(A, { service: "Greeter", handler: "greet" }, "service")), [
      invokeAction(A),
    ]);
    assert.deepEqual((store.dump() as { locks: unknown[] }).locks, []);
  });
});

describe("apply: workflows lock their id", () => {
  it("a workflow run takes its id's lock; shared workflow handlers run alongside", () => {
    const store = new MemoryStore(0);
    assert.deepEqual(step(store, invoke(A, RUN, "workflow")), [invokeAction(A)]);
    assert.equal(store.getLock("Signup", "wf1"), A);
    assert.equal(store.getStatus(A)?.handlerKind, "workflow");
    assert.deepEqual(step(store, invoke(B, CLICK, "shared")), [invokeAction(B)]);
    assert.equal(store.getLock("Signup", "wf1"), A);
  });

  it("a second workflow-kind invocation of the same id waits in the inbox", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, RUN, "workflow", { retentionMs: 0 }));
    assert.deepEqual(step(store, invoke(B, RUN, "workflow")), []);
    assert.equal(store.getStatus(B)?.state, "inboxed");
    assert.deepEqual(step(store, end(A)), [completed(A), invokeAction(B)]);
  });

  it("a duplicate submission (same run id) starts nothing; after completion it gets the output", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, RUN, "workflow"));
    const before = tables(store);
    assert.deepEqual(step(store, invoke(A, RUN, "workflow")), []);
    assert.deepEqual(tables(store), before);
    const out: Result = { ok: enc("signed up") };
    step(store, end(A, out));
    assert.deepEqual(step(store, invoke(A, RUN, "workflow")), [completed(A, out)]);
  });
});

describe("apply: state commands", () => {
  it("set_state / clear_state / clear_all_state of an exclusive handler change the key's state and are journaled as proposed", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    assert.deepEqual(step(store, entry(A, 1, set("a", 1))), [ack(A, 1, 1)]);
    step(store, entry(A, 2, set("b", 2)));
    step(store, entry(A, 3, set("c", 3)));
    assert.deepEqual(store.listState("Counter", "k1"), [
      ["a", enc(1)],
      ["b", enc(2)],
      ["c", enc(3)],
    ]);
    const clear: CommandEntry = { type: "clear_state", key: "b" };
    assert.deepEqual(step(store, entry(A, 4, clear)), [ack(A, 4, 4)]);
    assert.deepEqual(store.listState("Counter", "k1"), [
      ["a", enc(1)],
      ["c", enc(3)],
    ]);
    const clearAll: CommandEntry = { type: "clear_all_state" };
    assert.deepEqual(step(store, entry(A, 5, clearAll)), [ack(A, 5, 5)]);
    assert.deepEqual(store.listState("Counter", "k1"), []);
    assert.deepEqual(store.getJournal(A).slice(1), [set("a", 1), set("b", 2), set("c", 3), clear, clearAll]);
  });

  it("state is per object key: another key's state is untouched", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, invoke(B, ADD_K2, "exclusive"));
    step(store, entry(A, 1, set("n", 1)));
    step(store, entry(B, 1, set("n", 2)));
    step(store, entry(A, 2, { type: "clear_all_state" }));
    assert.deepEqual(store.listState("Counter", "k1"), []);
    assert.deepEqual(store.listState("Counter", "k2"), [["n", enc(2)]]);
  });

  it("a shared handler's set/clear/clearAll are journaled and acked but never change the state table", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, entry(A, 1, set("n", 1)));
    step(store, end(A));
    step(store, invoke(B, READ, "shared"));
    const before = store.listState("Counter", "k1");
    assert.deepEqual(step(store, entry(B, 1, set("n", 99))), [ack(B, 1, 1)]);
    step(store, entry(B, 2, { type: "clear_state", key: "n" }));
    step(store, entry(B, 3, { type: "clear_all_state" }));
    assert.deepEqual(store.listState("Counter", "k1"), before);
    assert.deepEqual(before, [["n", enc(1)]]);
  });

  it("a workflow run writes its id's state", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, RUN, "workflow"));
    step(store, entry(A, 1, set("stage", "mailed")));
    assert.deepEqual(store.getState("Signup", "wf1", "stage"), enc("mailed"));
  });

  it("a lazy get_state (with a completion id) is journaled as proposed; its value (or void when absent) is notified right after", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, entry(A, 1, set("n", 5)));
    const present: CommandEntry = { type: "get_state", key: "n", completionId: 1 };
    assert.deepEqual(step(store, entry(A, 2, present)), [ack(A, 2, 2), notify(A, 1, { ok: enc(5) }, 3)]);
    const absent: CommandEntry = { type: "get_state", key: "missing", completionId: 2 };
    assert.deepEqual(step(store, entry(A, 3, absent)), [ack(A, 3, 4), notify(A, 2, VOID, 5)]);
    assert.deepEqual(store.getJournal(A).slice(2), [
      present,
      { type: "completion", completionId: 1, value: { ok: enc(5) } },
      absent,
      { type: "completion", completionId: 2, value: VOID },
    ]);
    assert.deepEqual(store.getStatus(A)?.completed, [1, 2]);
  });

  it("an eager get_state (with a value) is kept as proposed, even null, and notifies nothing", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, entry(A, 1, set("n", 5)));
    const proposed: CommandEntry = { type: "get_state", key: "n", value: enc(4) };
    assert.deepEqual(step(store, entry(A, 2, proposed)), [ack(A, 2, 2)]);
    const proposedNull: CommandEntry = { type: "get_state", key: "n", value: null };
    assert.deepEqual(step(store, entry(A, 3, proposedNull)), [ack(A, 3, 3)]);
    assert.deepEqual(store.getJournal(A).slice(2), [proposed, proposedNull]);
    assert.equal(store.getStatus(A)?.completed, undefined);
  });

  it("a shared handler's get_state reads the key's state", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, entry(A, 1, set("n", 5)));
    step(store, invoke(B, READ, "shared"));
    assert.deepEqual(step(store, entry(B, 1, { type: "get_state", key: "n", completionId: 1 })), [
      ack(B, 1, 1),
      notify(B, 1, { ok: enc(5) }, 2),
    ]);
  });

  it("a lazy get_state_keys is notified the sorted names right after; an eager one (with keys) is kept and notifies nothing", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, entry(A, 1, set("zeta", 1)));
    step(store, entry(A, 2, set("alpha", 2)));
    const lazy: CommandEntry = { type: "get_state_keys", completionId: 1 };
    assert.deepEqual(step(store, entry(A, 3, lazy)), [
      ack(A, 3, 3),
      notify(A, 1, { stateKeys: ["alpha", "zeta"] }, 4),
    ]);
    const proposed: CommandEntry = { type: "get_state_keys", keys: ["x"] };
    assert.deepEqual(step(store, entry(A, 4, proposed)), [ack(A, 4, 5)]);
    assert.deepEqual(store.getJournal(A).slice(3), [
      lazy,
      { type: "completion", completionId: 1, value: { stateKeys: ["alpha", "zeta"] } },
      proposed,
    ]);
  });

  it("a lazy get_state_keys of an empty key is notified an empty list", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    assert.deepEqual(step(store, entry(A, 1, { type: "get_state_keys", completionId: 1 })), [
      ack(A, 1, 1),
      notify(A, 1, { stateKeys: [] }, 2),
    ]);
  });

  it("object state outlives the invocation that wrote it (no retention for objects)", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, ADD, "exclusive"));
    step(store, entry(A, 1, set("n", 1)));
    step(store, end(A));
    assert.equal(store.getStatus(A), undefined);
    assert.deepEqual(store.listState("Counter", "k1"), [["n", enc(1)]]);
  });
});

describe("apply: workflow durable promises", () => {
  const get = (completionId: number): CommandEntry => ({
    type: "promise_get",
    name: "clicked",
    completionId,
  });
  const peek = (completionId: number): CommandEntry => ({
    type: "promise_peek",
    name: "clicked",
    completionId,
  });
  const resolveWith = (v: unknown, completionId: number): CommandEntry => ({
    type: "promise_complete",
    name: "clicked",
    result: { ok: enc(v) },
    completionId,
  });
  const ALREADY: Result = { err: { code: 409, message: "promise 'clicked' was already completed" } };

  /** A workflow run A waiting on promise 'clicked' (command 1, completion 1), and a shared handler B. */
  function waiting(): MemoryStore {
    const store = new MemoryStore(0);
    step(store, invoke(A, RUN, "workflow"));
    step(store, entry(A, 1, get(1)));
    step(store, invoke(B, CLICK, "shared"));
    return store;
  }

  it("promise_get of an unresolved promise is journaled, registers a waiter by completion id, and notifies nothing", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, RUN, "workflow"));
    assert.deepEqual(step(store, entry(A, 1, get(1))), [ack(A, 1, 1)]);
    assert.deepEqual(store.getPromise("Signup", "wf1", "clicked"), {
      waiters: [{ invocationId: A, completionId: 1 }],
    });
    assert.deepEqual(store.getJournal(A).slice(1), [get(1)]);
  });

  it("promise_complete from a shared handler: its own completion void, the promise resolved, the waiting run notified", () => {
    const store = waiting();
    const r = resolveWith("yes", 1);
    const actions = step(store, entry(B, 1, r));
    assert.deepEqual(actions, [ack(B, 1, 1), notify(B, 1, VOID, 2), notify(A, 1, { ok: enc("yes") }, 2)]);
    assert.deepEqual(store.getPromise("Signup", "wf1", "clicked"), {
      result: { ok: enc("yes") },
      waiters: [],
    });
    assert.deepEqual(store.getJournal(A).at(-1), {
      type: "completion",
      completionId: 1,
      value: { ok: enc("yes") },
    });
    assert.deepEqual(store.getJournal(B).slice(1), [r, { type: "completion", completionId: 1, value: VOID }]);
  });

  it("the waiting run, if suspended on it, is re-invoked with epoch + 1", () => {
    const store = waiting();
    step(store, {
      type: "suspend",
      invocationId: A,
      attemptEpoch: 1,
      waitingCompletions: [1],
      waitingSignals: [1],
    });
    const actions = step(store, entry(B, 1, resolveWith("yes", 1)));
    assert.deepEqual(actions.at(-1), invokeAction(A, 2));
    assert.equal(store.getStatus(A)?.state, "invoked");
  });

  it("resolving twice: the second is notified err 409 and the promise keeps its first value", () => {
    const store = waiting();
    step(store, entry(B, 1, resolveWith("first", 1)));
    assert.deepEqual(step(store, entry(B, 2, resolveWith("second", 2))), [
      ack(B, 2, 3),
      notify(B, 2, ALREADY, 4),
    ]);
    assert.deepEqual(store.getPromise("Signup", "wf1", "clicked")?.result, { ok: enc("first") });
    // A rejection after a resolution is refused the same way.
    const reject: CommandEntry = {
      type: "promise_complete",
      name: "clicked",
      result: { err: { code: 500, message: "no" } },
      completionId: 3,
    };
    assert.deepEqual(step(store, entry(B, 3, reject)), [ack(B, 3, 5), notify(B, 3, ALREADY, 6)]);
    assert.deepEqual(store.getPromise("Signup", "wf1", "clicked")?.result, { ok: enc("first") });
  });

  it("promise_get after the promise was resolved: the completion is appended right after the command", () => {
    const store = new MemoryStore(0);
    step(store, invoke(B, CLICK, "shared"));
    step(store, entry(B, 1, resolveWith(42, 1)));
    step(store, invoke(A, RUN, "workflow"));
    step(store, entry(A, 1, { type: "run", name: "mail", completionId: 1 }));
    assert.deepEqual(step(store, entry(A, 2, get(2))), [ack(A, 2, 2), notify(A, 2, { ok: enc(42) }, 3)]);
    assert.deepEqual(store.getStatus(A)?.completed, [2]);
    assert.equal(store.getStatus(A)?.journalLength, 4);
    assert.deepEqual(store.getPromise("Signup", "wf1", "clicked")?.waiters, []);
  });

  it("a handler resolving the promise it waits on itself: its resolve's void, then its get's result, right after the resolve", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, RUN, "workflow"));
    step(store, entry(A, 1, get(1)));
    assert.deepEqual(step(store, entry(A, 2, resolveWith("self", 2))), [
      ack(A, 2, 2),
      notify(A, 2, VOID, 3),
      notify(A, 1, { ok: enc("self") }, 4),
    ]);
    assert.deepEqual(store.getStatus(A)?.completed, [2, 1]);
  });

  it("several waiters (the run and a shared handler) are all completed, after the resolver's own completion", () => {
    const store = waiting();
    step(store, entry(B, 1, get(1)));
    step(store, invoke(C, CLICK, "shared"));
    const actions = step(store, entry(C, 1, resolveWith("v", 1)));
    assert.deepEqual(
      actions.filter((a) => a.type === "notify").map((a) => a.invocationId),
      [C, A, B],
    );
  });

  it("promise_peek is notified void before the resolution and the result after", () => {
    const store = waiting();
    assert.deepEqual(step(store, entry(B, 1, peek(1))), [ack(B, 1, 1), notify(B, 1, VOID, 2)]);
    step(store, entry(B, 2, resolveWith("v", 2)));
    assert.deepEqual(step(store, entry(B, 3, peek(3))), [ack(B, 3, 5), notify(B, 3, { ok: enc("v") }, 6)]);
    // A peek registers no waiter: only the run's get waits.
    assert.deepEqual(store.getPromise("Signup", "wf1", "clicked")?.waiters, []);
  });

  it("promises are per workflow id", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, RUN, "workflow"));
    step(store, invoke(B, { ...CLICK, key: "wf2" }, "shared"));
    step(store, entry(B, 1, resolveWith("other", 1)));
    assert.deepEqual(step(store, entry(A, 1, get(1))), [ack(A, 1, 1)]);
  });
});

describe("apply: workflow completion, retention and cleanup", () => {
  function finished(retentionMs = RETENTION): { store: MemoryStore; at: number; out: Result } {
    const store = new MemoryStore(0);
    step(store, invoke(A, RUN, "workflow", { retentionMs }));
    step(store, entry(A, 1, set("stage", "done")));
    step(
      store,
      entry(A, 2, { type: "promise_complete", name: "p", result: { ok: enc(1) }, completionId: 1 }),
    );
    const at = T0 + 1_000;
    const out: Result = { ok: enc("signed up") };
    step(store, end(A, out), { at });
    return { store, at, out };
  }

  it("completion keeps status (with output), state and promises for the retention, with a cleanup timer", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, RUN, "workflow"));
    step(store, entry(A, 1, set("stage", "done")));
    const at = T0 + 1_000;
    const out: Result = { ok: enc("signed up") };
    const timer = { kind: "cleanup", invocationId: A } as const;
    assert.deepEqual(step(store, end(A, out), { at }), [
      completed(A, out),
      { type: "schedule_timer", dueAt: at + RETENTION, timer },
    ]);
    const s = store.getStatus(A);
    assert.equal(s?.state, "completed");
    assert.deepEqual(s?.result, out);
    assert.equal(s?.completedAt, at);
    assert.deepEqual(store.getJournal(A), []);
    assert.deepEqual(store.listState("Signup", "wf1"), [["stage", enc("done")]]);
    assert.deepEqual(store.listTimers(FOREVER, 100), [{ dueAt: at + RETENTION, key: timer }]);
    assert.equal(store.getLock("Signup", "wf1"), undefined);
  });

  it("the cleanup timer drops status, state and promises", () => {
    const { store, at } = finished();
    assert.notEqual(store.getPromise("Signup", "wf1", "p"), undefined);
    assert.deepEqual(
      step(
        store,
        { type: "timer_fired", timer: { kind: "cleanup", invocationId: A } },
        { at: at + RETENTION },
      ),
      [],
    );
    assert.equal(store.getStatus(A), undefined);
    assert.deepEqual(store.listState("Signup", "wf1"), []);
    assert.equal(store.getPromise("Signup", "wf1", "p"), undefined);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
  });

  it("with zero retention, status, state and promises go at completion", () => {
    const { store } = finished(0);
    assert.equal(store.getStatus(A), undefined);
    assert.deepEqual(store.listState("Signup", "wf1"), []);
    assert.equal(store.getPromise("Signup", "wf1", "p"), undefined);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
  });

  it("purging a completed workflow clears its state, promises and cleanup timer at once", () => {
    const { store } = finished();
    assert.deepEqual(step(store, { type: "purge", invocationId: A }), []);
    assert.equal(store.getStatus(A), undefined);
    assert.deepEqual(store.listState("Signup", "wf1"), []);
    assert.equal(store.getPromise("Signup", "wf1", "p"), undefined);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
  });

  it("purging a running workflow is refused: nothing changes", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, RUN, "workflow"));
    step(store, entry(A, 1, set("stage", "x")));
    const before = tables(store);
    assert.deepEqual(step(store, { type: "purge", invocationId: A }), []);
    assert.deepEqual(tables(store), before);
  });

  it("a shared workflow handler's completion keeps the workflow's state", () => {
    const store = new MemoryStore(0);
    step(store, invoke(A, RUN, "workflow"));
    step(store, entry(A, 1, set("stage", "x")));
    step(store, invoke(B, CLICK, "shared", { retentionMs: 0 }));
    step(store, end(B));
    assert.deepEqual(store.listState("Signup", "wf1"), [["stage", enc("x")]]);
  });

  it("attach to a completed workflow run answers with its output during the retention", () => {
    const { store, out } = finished();
    const caller = { invocationId: D, completionId: 3 };
    assert.deepEqual(step(store, { type: "attach_request", invocationId: A, caller }), [
      { type: "ship_outbox" },
    ]);
    assert.deepEqual(store.listOutbox(0, 100).at(-1)?.message, {
      type: "invocation_response",
      ...caller,
      result: out,
    });
  });
});
