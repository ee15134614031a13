// Proves apply(store, record) -> actions follows apply.ts's invariants for an invocation's life (invoke, entries and acks, run completions, end, retries, timers, leadership, dedup, outbox truncation, pause/resume/purge, determinism), by golden tests: given this MemoryStore and this record, exactly these actions and these rows.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { CommandEntry, JournalEntry, Result } from "@onelog/sdk/internal";
import { apply, backoffMs, type Action } from "../../packages/onelog/src/internal/partition/apply.js";
import type {
  Caller,
  InvokeBody,
  RecordBody,
  RecordHeader,
  RetryPolicy,
  Target,
} from "../../packages/onelog/src/internal/partition/records.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import {
  InvariantError,
  type InvocationStatus,
} from "../../packages/onelog/src/internal/partition/store/store.js";

// ---------------------------------------------------------------------------------------------
// Helpers

const T0 = 1_700_000_000_000;
const ID = "inv_00000000000000000000000000000000000000a1";
const ID2 = "inv_00000000000000000000000000000000000000b2";
const ID3 = "inv_00000000000000000000000000000000000000c3";
const CALLER = "inv_00000000000000000000000000000000000000f9";
const TARGET: Target = { service: "Greeter", handler: "greet" };
const OBJ: Target = { service: "Counter", handler: "add", key: "k1" };
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
const ARG = enc("Ada");

/** Applies one record at the next LSN inside a transaction, as the processor does. */
function step(store: MemoryStore, body: RecordBody, header: Partial<RecordHeader> = {}): Action[] {
  return store.transaction(() => {
    const lsn = store.getAppliedLsn() + 1;
    const actions = apply(store, { lsn, header: { at: T0, ...header }, body });
    store.setAppliedLsn(lsn);
    return actions;
  });
}

function invoke(overrides: Partial<InvokeBody> = {}): InvokeBody {
  return {
    type: "invoke",
    invocationId: ID,
    target: TARGET,
    handlerKind: "service",
    argument: ARG,
    headers: { "content-type": "application/json" },
    retry: POLICY,
    retentionMs: RETENTION,
    ...overrides,
  };
}

/** An entry effect: command `commandIndex` of attempt `epoch` (default 1) of `id` (default ID). */
function entry(commandIndex: number, e: CommandEntry, epoch = 1, id = ID): RecordBody {
  return { type: "entry", invocationId: id, attemptEpoch: epoch, commandIndex, entry: e };
}

const end = (result: Result, epoch = 1, id = ID): RecordBody => ({
  type: "end",
  invocationId: id,
  attemptEpoch: epoch,
  result,
});

const INPUT: JournalEntry = { type: "input", argument: ARG, headers: { "content-type": "application/json" } };
/** A `ctx.run` command; its result comes later as the notification of `completionId`. */
const runEntry = (name: string, completionId: number): CommandEntry => ({ type: "run", name, completionId });

/** The status row of a fresh service invocation after its first invoke. */
function invokedRow(overrides: Partial<InvocationStatus> = {}): InvocationStatus {
  return {
    invocationId: ID,
    target: TARGET,
    handlerKind: "service",
    state: "invoked",
    attemptEpoch: 1,
    retryCount: 0,
    journalLength: 1,
    commandCount: 1,
    retry: POLICY,
    retentionMs: RETENTION,
    createdAt: T0,
    createdLsn: 1,
    modifiedAt: T0,
    ...overrides,
  };
}

/** The tables without the applied LSN, to check that a dropped record changed nothing else. */
function tables(store: MemoryStore): unknown {
  const { appliedLsn: _lsn, ...rest } = store.dump() as { appliedLsn: number };
  return rest;
}

/** A store with one invocation started at T0 (epoch 1). */
function started(overrides: Partial<InvokeBody> = {}): MemoryStore {
  const store = new MemoryStore(0);
  step(store, invoke(overrides));
  return store;
}

const failed = (epoch: number, message = "Error: boom", retryAfterMs?: number): RecordBody => ({
  type: "attempt_failed",
  invocationId: ID,
  attemptEpoch: epoch,
  message,
  ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
});

const retryFired: RecordBody = { type: "timer_fired", timer: { kind: "retry", invocationId: ID } };

// ---------------------------------------------------------------------------------------------

describe("apply: invoke", () => {
  it("starts the invocation: status invoked with epoch 1 and the handler kind, the input as command 0, one invoke action", () => {
    const store = new MemoryStore(0);
    const actions = step(store, invoke());
    assert.deepEqual(actions, [{ type: "invoke", invocationId: ID, attemptEpoch: 1 }]);
    assert.deepEqual(store.getStatus(ID), invokedRow());
    assert.deepEqual(store.getJournal(ID), [INPUT]);
    assert.deepEqual(store.listInvoked(), [ID]);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
    assert.deepEqual(store.listOutbox(0, 100), []);
  });

  it("keeps the idempotency key, the handler kind and the caller (as a sink) on the status row", () => {
    const caller: Caller = { invocationId: CALLER, completionId: 3 };
    const store = started({ idempotencyKey: "k1", handlerKind: "shared", target: OBJ, caller });
    assert.deepEqual(
      store.getStatus(ID),
      invokedRow({ idempotencyKey: "k1", handlerKind: "shared", target: OBJ, sinks: [caller] }),
    );
  });

  it("with executeAt in the future: scheduled, a delayed_invoke timer row, schedule_timer, no invoke", () => {
    const store = new MemoryStore(0);
    const executeAt = T0 + 5_000;
    const actions = step(store, invoke({ executeAt }));
    const timer = { kind: "delayed_invoke", invocationId: ID } as const;
    assert.deepEqual(actions, [{ type: "schedule_timer", dueAt: executeAt, timer }]);
    assert.deepEqual(store.getStatus(ID), invokedRow({ state: "scheduled", attemptEpoch: 0 }));
    assert.deepEqual(store.getJournal(ID), [INPUT]);
    assert.deepEqual(store.listTimers(FOREVER, 100), [{ dueAt: executeAt, key: timer }]);
    assert.deepEqual(store.listInvoked(), []);

    // The timer fires: the first attempt starts with epoch 1.
    const fired = step(store, { type: "timer_fired", timer }, { at: executeAt + 3 });
    assert.deepEqual(fired, [{ type: "invoke", invocationId: ID, attemptEpoch: 1 }]);
    assert.deepEqual(store.getStatus(ID), invokedRow({ modifiedAt: executeAt + 3 }));
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
  });

  it("with executeAt not after the record's time: invoked at once", () => {
    const store = new MemoryStore(0);
    assert.deepEqual(step(store, invoke({ executeAt: T0 })), [
      { type: "invoke", invocationId: ID, attemptEpoch: 1 },
    ]);
    assert.equal(store.getStatus(ID)?.state, "invoked");
  });

  it("a duplicate (same id) while the first runs: no actions, nothing changes", () => {
    const store = started({ idempotencyKey: "k1" });
    step(store, entry(1, runEntry("a", 1)));
    const before = tables(store);
    const actions = step(store, invoke({ idempotencyKey: "k1", argument: enc("Someone else") }), {
      at: T0 + 10,
    });
    assert.deepEqual(actions, []);
    assert.deepEqual(tables(store), before);
  });

  it("a duplicate with a caller while the first runs: the caller becomes a sink and gets the result at the end", () => {
    const store = started({ idempotencyKey: "k1" });
    const caller: Caller = { invocationId: CALLER, completionId: 2 };
    assert.deepEqual(step(store, invoke({ idempotencyKey: "k1", caller })), []);
    assert.deepEqual(store.getStatus(ID)?.sinks, [caller]);
    assert.deepEqual(store.getJournal(ID), [INPUT]);
    const result: Result = { ok: enc("hello Ada") };
    assert.deepEqual(step(store, end(result)), [
      { type: "completed", invocationId: ID, result },
      { type: "ship_outbox" },
      { type: "schedule_timer", dueAt: T0 + RETENTION, timer: { kind: "cleanup", invocationId: ID } },
    ]);
    assert.deepEqual(store.listOutbox(0, 100), [
      { seq: 1, message: { type: "invocation_response", invocationId: CALLER, completionId: 2, result } },
    ]);
  });

  it("a duplicate after completion (key retained): completed with the stored result, nothing changes", () => {
    const store = started({ idempotencyKey: "k1" });
    const result: Result = { ok: enc("hello Ada") };
    step(store, end(result));
    const before = tables(store);
    const actions = step(store, invoke({ idempotencyKey: "k1" }), { at: T0 + 10 });
    assert.deepEqual(actions, [{ type: "completed", invocationId: ID, result }]);
    assert.deepEqual(tables(store), before);
  });

  it("a duplicate with a caller after completion: the caller is answered through the outbox", () => {
    const store = started({ idempotencyKey: "k1" });
    const result: Result = { ok: enc("hello Ada") };
    step(store, end(result));
    const caller: Caller = { invocationId: CALLER, completionId: 4 };
    assert.deepEqual(step(store, invoke({ idempotencyKey: "k1", caller })), [
      { type: "completed", invocationId: ID, result },
      { type: "ship_outbox" },
    ]);
    assert.deepEqual(store.listOutbox(0, 100), [
      { seq: 1, message: { type: "invocation_response", invocationId: CALLER, completionId: 4, result } },
    ]);
  });
});

describe("apply: journal entries (the conditional append)", () => {
  it("command 1 of the current epoch is appended at position 1 and acked with {commandIndex, position}", () => {
    const store = started();
    const e = runEntry("compose", 1);
    const actions = step(store, entry(1, e), { at: T0 + 7 });
    assert.deepEqual(actions, [
      { type: "ack", invocationId: ID, attemptEpoch: 1, commandIndex: 1, position: 1 },
    ]);
    assert.deepEqual(store.getJournal(ID), [INPUT, e]);
    assert.deepEqual(
      store.getStatus(ID),
      invokedRow({ journalLength: 2, commandCount: 2, modifiedAt: T0 + 7 }),
    );
  });

  it("command and journal position differ once a notification sits in between", () => {
    const store = started();
    step(store, entry(1, runEntry("before", 1)));
    step(store, {
      type: "run_completion",
      invocationId: ID,
      attemptEpoch: 1,
      completionId: 1,
      result: { ok: enc("x") },
    });
    assert.deepEqual(step(store, entry(2, runEntry("after", 2))), [
      { type: "ack", invocationId: ID, attemptEpoch: 1, commandIndex: 2, position: 3 },
    ]);
    assert.equal(store.getStatus(ID)?.commandCount, 3);
    assert.equal(store.getStatus(ID)?.journalLength, 4);
  });

  it("an entry with a stale epoch is dropped: no actions, no change", () => {
    const store = started();
    step(store, failed(1));
    step(store, retryFired); // epoch 2 now
    const before = tables(store);
    assert.deepEqual(step(store, entry(1, runEntry("a", 1), 1)), []);
    assert.deepEqual(tables(store), before);
  });

  it("an entry for an invocation that is not invoked (backing off) or unknown is dropped", () => {
    const store = started();
    step(store, failed(1));
    const before = tables(store);
    assert.deepEqual(step(store, entry(1, runEntry("a", 1))), []);
    assert.deepEqual(step(store, entry(1, runEntry("a", 1), 1, ID2)), []);
    assert.deepEqual(tables(store), before);
  });

  it("a command index gap (or a reused index) throws InvariantError and the transaction leaves no trace", () => {
    const store = started();
    const before = store.dump();
    assert.throws(
      () => step(store, entry(2, runEntry("a", 1))),
      (e: unknown) =>
        e instanceof InvariantError &&
        /command 2 but the journal has 1/.test(e.message) &&
        e.message.includes(ID),
    );
    assert.throws(() => step(store, entry(0, runEntry("a", 1))), InvariantError);
    assert.deepEqual(store.dump(), before);
  });

  it("an input entry proposed as a command throws InvariantError and leaves no trace", () => {
    const store = started();
    const before = store.dump();
    assert.throws(
      () => step(store, entry(1, { type: "input", argument: ARG, headers: {} })),
      (e: unknown) => e instanceof InvariantError && /input entry proposed as command 1/.test(e.message),
    );
    assert.deepEqual(store.dump(), before);
  });
});

describe("apply: run_completion (a step's result, proposed by its attempt)", () => {
  const runDone = (completionId: number, result: Result, epoch = 1): RecordBody => ({
    type: "run_completion",
    invocationId: ID,
    attemptEpoch: epoch,
    completionId,
    result,
  });
  const notified = (completionId: number, result: Result, position: number, epoch = 1): Action => ({
    type: "notify",
    invocationId: ID,
    attemptEpoch: epoch,
    entry: { type: "completion", completionId, value: result },
    position,
  });

  it("a run command, then its run_completion: the result is journaled as the completion's notification and notified", () => {
    const store = started();
    const run = runEntry("compose", 1);
    step(store, entry(1, run));
    const result: Result = { ok: enc("hello Ada") };
    assert.deepEqual(step(store, runDone(1, result), { at: T0 + 9 }), [notified(1, result, 2)]);
    assert.deepEqual(store.getJournal(ID), [
      INPUT,
      run,
      { type: "completion", completionId: 1, value: result },
    ]);
    assert.deepEqual(
      store.getStatus(ID),
      invokedRow({ journalLength: 3, commandCount: 2, completed: [1], modifiedAt: T0 + 9 }),
    );
  });

  it("a terminal failure of a step is journaled as the completion's err", () => {
    const store = started();
    step(store, entry(1, runEntry("charge", 1)));
    const err: Result = { err: { code: 402, message: "card declined" } };
    assert.deepEqual(step(store, runDone(1, err)), [notified(1, err, 2)]);
    assert.deepEqual(store.getJournal(ID).at(-1), { type: "completion", completionId: 1, value: err });
  });

  it("a second run_completion for the same completion id is dropped: no actions, no change (invariant 7)", () => {
    const store = started();
    step(store, entry(1, runEntry("compose", 1)));
    step(store, runDone(1, { ok: enc("first") }));
    const before = tables(store);
    assert.deepEqual(step(store, runDone(1, { ok: enc("second") })), []);
    assert.deepEqual(step(store, runDone(1, { err: { code: 500, message: "late failure" } })), []);
    assert.deepEqual(tables(store), before);
    assert.deepEqual(store.getJournal(ID).at(-1), {
      type: "completion",
      completionId: 1,
      value: { ok: enc("first") },
    });
  });

  it("a run_completion from a stale epoch, or while backing off, is dropped; the current attempt's applies (invariant 2)", () => {
    const store = started();
    step(store, entry(1, runEntry("compose", 1)));
    step(store, failed(1));
    const backingOff = tables(store);
    assert.deepEqual(step(store, runDone(1, { ok: enc("zombie") })), []);
    assert.deepEqual(tables(store), backingOff);
    step(store, retryFired); // epoch 2
    const retried = tables(store);
    assert.deepEqual(step(store, runDone(1, { ok: enc("zombie") }, 1)), []);
    assert.deepEqual(tables(store), retried);
    const result: Result = { ok: enc("fresh") };
    assert.deepEqual(step(store, runDone(1, result, 2)), [notified(1, result, 2, 2)]);
  });

  it("a step result for a completion id that is not a Run command's (a sleep's, an unknown one) is dropped", () => {
    const store = started();
    step(store, entry(1, { type: "sleep", wakeUpAt: T0 + 1_000, completionId: 1 }));
    const before = tables(store);
    assert.deepEqual(step(store, runDone(1, { ok: enc("not a step") })), []);
    assert.deepEqual(step(store, runDone(7, { ok: enc("unknown") })), []);
    assert.deepEqual(tables(store), before);
  });

  it("two runs whose results arrive in reverse order are journaled in arrival order: the journal order is completion order", () => {
    const store = started();
    const first = runEntry("slow", 1);
    const second = runEntry("fast", 2);
    step(store, entry(1, first));
    step(store, entry(2, second));
    const fast: Result = { ok: enc("fast") };
    const slow: Result = { ok: enc("slow") };
    assert.deepEqual(step(store, runDone(2, fast)), [notified(2, fast, 3)]);
    assert.deepEqual(step(store, runDone(1, slow)), [notified(1, slow, 4)]);
    assert.deepEqual(store.getJournal(ID), [
      INPUT,
      first,
      second,
      { type: "completion", completionId: 2, value: fast },
      { type: "completion", completionId: 1, value: slow },
    ]);
    assert.deepEqual(store.getStatus(ID)?.completed, [2, 1]);
    // The next command goes after both notifications.
    assert.deepEqual(step(store, entry(3, runEntry("next", 3))), [
      { type: "ack", invocationId: ID, attemptEpoch: 1, commandIndex: 3, position: 5 },
    ]);
  });
});

describe("apply: end", () => {
  const result: Result = { ok: enc("hello Ada") };

  it("with an idempotency key: completed action, journal deleted, status kept with a cleanup timer", () => {
    const store = started({ idempotencyKey: "k1" });
    step(store, entry(1, runEntry("a", 1)));
    const at = T0 + 100;
    const actions = step(store, end(result), { at });
    const timer = { kind: "cleanup", invocationId: ID } as const;
    assert.deepEqual(actions, [
      { type: "completed", invocationId: ID, result },
      { type: "schedule_timer", dueAt: at + RETENTION, timer },
    ]);
    assert.deepEqual(store.getJournal(ID), []);
    assert.deepEqual(
      store.getStatus(ID),
      invokedRow({
        idempotencyKey: "k1",
        state: "completed",
        result,
        completedAt: at,
        modifiedAt: at,
        journalLength: 0,
        commandCount: 2,
      }),
    );
    assert.deepEqual(store.listTimers(FOREVER, 100), [{ dueAt: at + RETENTION, key: timer }]);
    assert.deepEqual(store.listInvoked(), []);
  });

  it("without an idempotency key: completed action, journal and status deleted, no timer", () => {
    const store = started();
    const actions = step(store, end(result));
    assert.deepEqual(actions, [{ type: "completed", invocationId: ID, result }]);
    assert.equal(store.getStatus(ID), undefined);
    assert.deepEqual(store.getJournal(ID), []);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
  });

  it("with a caller: the caller's command is completed through the outbox", () => {
    const caller: Caller = { invocationId: CALLER, completionId: 5 };
    const store = started({ caller });
    assert.deepEqual(step(store, end(result)), [
      { type: "completed", invocationId: ID, result },
      { type: "ship_outbox" },
    ]);
    assert.deepEqual(store.listOutbox(0, 100), [
      { seq: 1, message: { type: "invocation_response", invocationId: CALLER, completionId: 5, result } },
    ]);
  });

  it("with an idempotency key but zero retention: deleted like one without a key", () => {
    const store = started({ idempotencyKey: "k1", retentionMs: 0 });
    const err: Result = { err: { code: 422, message: "no" } };
    assert.deepEqual(step(store, end(err)), [{ type: "completed", invocationId: ID, result: err }]);
    assert.equal(store.getStatus(ID), undefined);
  });

  it("an end from a stale epoch is dropped", () => {
    const store = started();
    step(store, failed(1));
    step(store, retryFired);
    const before = tables(store);
    assert.deepEqual(step(store, end(result, 1)), []);
    assert.deepEqual(tables(store), before);
  });
});

describe("apply: attempt_failed and retries", () => {
  it("backs off with a retry timer due at header.at + the policy's interval", () => {
    const store = started();
    const at = T0 + 20;
    const actions = step(store, failed(1, "Error: boom"), { at });
    const timer = { kind: "retry", invocationId: ID } as const;
    assert.deepEqual(actions, [{ type: "schedule_timer", dueAt: at + 50, timer }]);
    assert.deepEqual(
      store.getStatus(ID),
      invokedRow({
        state: "backing-off",
        retryCount: 1,
        lastFailure: "Error: boom",
        failures: [{ attempt: 1, at, message: "Error: boom" }],
        nextRetryAt: at + 50,
        modifiedAt: at,
      }),
    );
    assert.deepEqual(store.listTimers(FOREVER, 100), [{ dueAt: at + 50, key: timer }]);
    assert.deepEqual(store.listInvoked(), []);
  });

  it("the interval doubles per retry (50, 100, 200, …) and stops at the max interval", () => {
    const policy: RetryPolicy = { ...POLICY, maxIntervalMs: 500 };
    const store = started({ retry: policy });
    const waits: number[] = [];
    let at = T0;
    for (let epoch = 1; epoch <= 7; epoch++) {
      at += 1_000;
      const [a] = step(store, failed(epoch), { at });
      assert.equal(a?.type, "schedule_timer");
      waits.push((a as { dueAt: number }).dueAt - at);
      assert.equal(store.getStatus(ID)?.retryCount, epoch);
      const fired = step(store, retryFired, { at: at + 1 });
      assert.deepEqual(fired, [{ type: "invoke", invocationId: ID, attemptEpoch: epoch + 1 }]);
    }
    assert.deepEqual(waits, [50, 100, 200, 400, 500, 500, 500]);
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => backoffMs(policy, n)),
      [50, 100, 200, 400, 500],
    );
  });

  it("retryAfterMs overrides the interval once; the next failure uses the policy again", () => {
    const store = started();
    const [first] = step(store, failed(1, "RetryableError: later", 7_000), { at: T0 + 1 });
    assert.deepEqual(first, {
      type: "schedule_timer",
      dueAt: T0 + 1 + 7_000,
      timer: { kind: "retry", invocationId: ID },
    });
    assert.equal(store.getStatus(ID)?.nextRetryAt, T0 + 7_001);
    step(store, retryFired, { at: T0 + 7_001 });
    const [second] = step(store, failed(2), { at: T0 + 8_000 });
    assert.deepEqual(second, {
      type: "schedule_timer",
      dueAt: T0 + 8_000 + 100,
      timer: { kind: "retry", invocationId: ID },
    });
  });

  it("attempts used up with onMaxAttempts pause: paused, no actions, no timer", () => {
    const store = started({ retry: { ...POLICY, maxAttempts: 2 } });
    step(store, failed(1, "Error: one"));
    step(store, retryFired);
    const at = T0 + 500;
    const actions = step(store, failed(2, "Error: two"), { at });
    assert.deepEqual(actions, []);
    assert.deepEqual(
      store.getStatus(ID),
      invokedRow({
        retry: { ...POLICY, maxAttempts: 2 },
        state: "paused",
        attemptEpoch: 2,
        retryCount: 2,
        lastFailure: "Error: two",
        failures: [
          { attempt: 1, at: T0, message: "Error: one" },
          { attempt: 2, at, message: "Error: two" },
        ],
        modifiedAt: at,
      }),
    );
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
    assert.deepEqual(store.getJournal(ID), [INPUT]);
  });

  it("attempts used up with onMaxAttempts kill: completed with a failure naming the last error", () => {
    const retry: RetryPolicy = { ...POLICY, maxAttempts: 1, onMaxAttempts: "kill" };
    const expected: Result = {
      err: { code: 500, message: "killed after 1 attempts; last failure: Error: boom" },
    };

    const plain = started({ retry });
    assert.deepEqual(step(plain, failed(1)), [{ type: "completed", invocationId: ID, result: expected }]);
    assert.equal(plain.getStatus(ID), undefined);
    assert.deepEqual(plain.getJournal(ID), []);

    const keyed = started({ retry, idempotencyKey: "k1" });
    const at = T0 + 9;
    assert.deepEqual(step(keyed, failed(1), { at }), [
      { type: "completed", invocationId: ID, result: expected },
      { type: "schedule_timer", dueAt: at + RETENTION, timer: { kind: "cleanup", invocationId: ID } },
    ]);
    const row = keyed.getStatus(ID);
    assert.equal(row?.state, "completed");
    assert.deepEqual(row?.result, expected);
  });

  it("maxAttempts null retries forever", () => {
    const store = started({ retry: { ...POLICY, maxAttempts: null, maxIntervalMs: 100 } });
    for (let epoch = 1; epoch <= 150; epoch++) {
      assert.equal(step(store, failed(epoch))[0]?.type, "schedule_timer");
      step(store, retryFired);
    }
    assert.equal(store.getStatus(ID)?.state, "invoked");
    assert.equal(store.getStatus(ID)?.retryCount, 150);
  });

  it("an attempt_failed from a stale epoch is dropped", () => {
    const store = started();
    step(store, failed(1));
    const before = tables(store);
    assert.deepEqual(step(store, failed(1)), []);
    assert.deepEqual(tables(store), before);
  });
});

describe("apply: timers", () => {
  it("a retry timer fires: invoked with epoch + 1, nextRetryAt gone, one invoke action, journal kept", () => {
    const store = started();
    const e = runEntry("a", 1);
    step(store, entry(1, e));
    step(store, failed(1, "Error: boom"), { at: T0 + 10 });
    const actions = step(store, retryFired, { at: T0 + 60 });
    assert.deepEqual(actions, [{ type: "invoke", invocationId: ID, attemptEpoch: 2 }]);
    assert.deepEqual(
      store.getStatus(ID),
      invokedRow({
        attemptEpoch: 2,
        retryCount: 1,
        journalLength: 2,
        commandCount: 2,
        lastFailure: "Error: boom",
        failures: [{ attempt: 1, at: T0 + 10, message: "Error: boom" }],
        modifiedAt: T0 + 60,
      }),
    );
    assert.deepEqual(store.getJournal(ID), [INPUT, e]);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
  });

  it("a duplicate fire, or a fire without a timer row, is dropped", () => {
    const store = started();
    step(store, failed(1));
    step(store, retryFired);
    const before = tables(store);
    assert.deepEqual(step(store, retryFired), []);
    assert.deepEqual(
      step(store, { type: "timer_fired", timer: { kind: "delayed_invoke", invocationId: ID } }),
      [],
    );
    assert.deepEqual(step(store, { type: "timer_fired", timer: { kind: "retry", invocationId: ID2 } }), []);
    assert.deepEqual(
      step(store, { type: "timer_fired", timer: { kind: "sleep", invocationId: ID, completionId: 1 } }),
      [],
    );
    assert.deepEqual(tables(store), before);
    assert.equal(store.getStatus(ID)?.attemptEpoch, 2);
  });

  it("the cleanup timer removes the completed status; the id can then be invoked afresh", () => {
    const store = started({ idempotencyKey: "k1" });
    step(store, end({ ok: enc(1) }));
    const actions = step(
      store,
      { type: "timer_fired", timer: { kind: "cleanup", invocationId: ID } },
      { at: T0 + RETENTION },
    );
    assert.deepEqual(actions, []);
    assert.equal(store.getStatus(ID), undefined);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
    assert.deepEqual(step(store, invoke({ idempotencyKey: "k1" })), [
      { type: "invoke", invocationId: ID, attemptEpoch: 1 },
    ]);
  });
});

describe("apply: leadership", () => {
  it("announce_leader: a leader action, then every invoked invocation re-invoked with a bumped epoch", () => {
    const store = new MemoryStore(0);
    step(store, invoke());
    step(store, invoke({ invocationId: ID2 }), { at: T0 + 1 });
    step(store, invoke({ invocationId: ID3 }), { at: T0 + 2 });
    step(store, { ...failed(1), invocationId: ID3 } as RecordBody); // ID3 backs off: not re-invoked
    const actions = step(store, { type: "announce_leader", leaderEpoch: 1 }, { at: T0 + 50 });
    assert.deepEqual(actions, [
      { type: "leader", leaderEpoch: 1 },
      { type: "invoke", invocationId: ID, attemptEpoch: 2 },
      { type: "invoke", invocationId: ID2, attemptEpoch: 2 },
    ]);
    assert.equal(store.getLeaderEpoch(), 1);
    assert.deepEqual(store.getStatus(ID), invokedRow({ attemptEpoch: 2, modifiedAt: T0 + 50 }));
    assert.equal(store.getStatus(ID3)?.state, "backing-off");
    assert.equal(store.getStatus(ID3)?.attemptEpoch, 1);
    // The old attempt is now a zombie: its entry is dropped.
    assert.deepEqual(step(store, entry(1, runEntry("a", 1), 1)), []);
  });

  it("an announce_leader not newer than the store's epoch is dropped", () => {
    const store = started();
    step(store, { type: "announce_leader", leaderEpoch: 3 });
    const before = tables(store);
    assert.deepEqual(step(store, { type: "announce_leader", leaderEpoch: 3 }), []);
    assert.deepEqual(step(store, { type: "announce_leader", leaderEpoch: 2 }), []);
    assert.deepEqual(tables(store), before);
  });

  it("a record proposed by an older leader is dropped; the current leader's and external ones apply", () => {
    const store = started();
    step(store, { type: "announce_leader", leaderEpoch: 2 }); // attempt epoch 2 now
    const before = tables(store);
    const e = runEntry("a", 1);
    const body = entry(1, e, 2);
    assert.deepEqual(step(store, body, { leaderEpoch: 1 }), []);
    assert.deepEqual(step(store, invoke({ invocationId: ID2 }), { leaderEpoch: 1 }), []);
    assert.deepEqual(tables(store), before);
    assert.deepEqual(step(store, body, { leaderEpoch: 2 }), [
      { type: "ack", invocationId: ID, attemptEpoch: 2, commandIndex: 1, position: 1 },
    ]);
    assert.deepEqual(step(store, invoke({ invocationId: ID2 })), [
      { type: "invoke", invocationId: ID2, attemptEpoch: 1 },
    ]);
  });
});

describe("apply: dedup of shipped and retried records", () => {
  it("a record whose (producer, seq) was applied before is dropped; a newer seq and other producers apply", () => {
    const store = new MemoryStore(0);
    const p1 = { producer: "partition-3", seq: 7 };
    assert.deepEqual(step(store, invoke(), { dedup: p1 }), [
      { type: "invoke", invocationId: ID, attemptEpoch: 1 },
    ]);
    const before = tables(store);
    // The same message shipped again, and an older one, change nothing (invariant 1).
    assert.deepEqual(step(store, invoke(), { dedup: p1 }), []);
    assert.deepEqual(step(store, invoke({ invocationId: ID2 }), { dedup: { ...p1, seq: 6 } }), []);
    assert.deepEqual(tables(store), before);
    assert.equal(store.getStatus(ID2), undefined);
    // A newer seq of the same producer, and another producer's seq 1, apply.
    assert.deepEqual(step(store, invoke({ invocationId: ID2 }), { dedup: { ...p1, seq: 8 } }), [
      { type: "invoke", invocationId: ID2, attemptEpoch: 1 },
    ]);
    assert.deepEqual(
      step(store, invoke({ invocationId: ID3 }), { dedup: { producer: "ingress-a", seq: 1 } }),
      [{ type: "invoke", invocationId: ID3, attemptEpoch: 1 }],
    );
    assert.equal(store.getDedup("partition-3"), 8);
    assert.equal(store.getDedup("ingress-a"), 1);
  });

  it("a shipped awakeable resolution delivered twice notifies its signal once", () => {
    const store = started();
    const body: RecordBody = {
      type: "resolve_awakeable",
      invocationId: ID,
      signalId: 17,
      result: { ok: enc(1) },
    };
    const dedup = { producer: "partition-9", seq: 1 };
    assert.equal(step(store, body, { dedup }).length, 1);
    const before = tables(store);
    assert.deepEqual(step(store, body, { dedup }), []);
    assert.deepEqual(tables(store), before);
  });
});

describe("apply: truncate_outbox", () => {
  it("deletes the outbox rows up to the shipped seq and keeps the later ones", () => {
    const store = started();
    const send = (n: number): CommandEntry => ({
      type: "send",
      target: { service: "Mailer", handler: "send" },
      argument: enc(n),
      headers: {},
      invocationIdCompletionId: n,
    });
    for (let k = 1; k <= 3; k++) step(store, entry(k, send(k)));
    assert.deepEqual(
      store.listOutbox(0, 100).map((r) => r.seq),
      [1, 2, 3],
    );
    assert.deepEqual(step(store, { type: "truncate_outbox", upToSeq: 2 }), []);
    assert.deepEqual(
      store.listOutbox(0, 100).map((r) => r.seq),
      [3],
    );
    // Truncating again up to the same or a lower seq changes nothing; new rows get new seqs.
    step(store, { type: "truncate_outbox", upToSeq: 1 });
    step(store, entry(4, send(4)));
    assert.deepEqual(
      store.listOutbox(0, 100).map((r) => r.seq),
      [3, 4],
    );
  });
});

describe("apply: pause and resume", () => {
  it("pausing an invoked invocation: paused, abort action; the running attempt's effects are dropped", () => {
    const store = started();
    const actions = step(store, { type: "pause", invocationId: ID }, { at: T0 + 5 });
    assert.deepEqual(actions, [{ type: "abort", invocationId: ID }]);
    assert.deepEqual(store.getStatus(ID), invokedRow({ state: "paused", modifiedAt: T0 + 5 }));
    const before = tables(store);
    assert.deepEqual(step(store, entry(1, runEntry("a", 1))), []);
    assert.deepEqual(step(store, end({ ok: enc(1) })), []);
    assert.deepEqual(tables(store), before);
  });

  it("pausing a backing-off invocation deletes its retry timer, so it stays paused", () => {
    const store = started();
    step(store, failed(1));
    assert.deepEqual(step(store, { type: "pause", invocationId: ID }), [{ type: "abort", invocationId: ID }]);
    assert.equal(store.getStatus(ID)?.state, "paused");
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
    assert.deepEqual(step(store, retryFired), []);
    assert.equal(store.getStatus(ID)?.state, "paused");
  });

  it("pausing a suspended invocation: a signal it waits for no longer wakes it; resume does", () => {
    const store = started();
    step(store, {
      type: "suspend",
      invocationId: ID,
      attemptEpoch: 1,
      waitingCompletions: [],
      waitingSignals: [17, 1],
    });
    assert.deepEqual(step(store, { type: "pause", invocationId: ID }), [{ type: "abort", invocationId: ID }]);
    const resolved: RecordBody = {
      type: "resolve_awakeable",
      invocationId: ID,
      signalId: 17,
      result: { ok: enc(1) },
    };
    assert.deepEqual(step(store, resolved), []);
    assert.equal(store.getStatus(ID)?.state, "paused");
    assert.equal(store.getJournal(ID).length, 2);
    assert.deepEqual(step(store, { type: "resume", invocationId: ID }), [
      { type: "invoke", invocationId: ID, attemptEpoch: 2 },
    ]);
  });

  it("pausing what is scheduled, inboxed, completed or unknown changes nothing", () => {
    const store = new MemoryStore(0);
    step(store, invoke({ executeAt: T0 + 1_000 }));
    step(store, invoke({ invocationId: ID2, idempotencyKey: "k" }));
    step(store, end({ ok: enc(1) }, 1, ID2));
    const before = tables(store);
    for (const id of [ID, ID2, ID3]) assert.deepEqual(step(store, { type: "pause", invocationId: id }), []);
    assert.deepEqual(tables(store), before);
  });

  it("resuming a paused invocation starts an attempt with epoch + 1 and retryCount 0", () => {
    const store = started({ retry: { ...POLICY, maxAttempts: 1 } });
    step(store, failed(1, "Error: boom"));
    assert.equal(store.getStatus(ID)?.state, "paused");
    const actions = step(store, { type: "resume", invocationId: ID }, { at: T0 + 1_000 });
    assert.deepEqual(actions, [{ type: "invoke", invocationId: ID, attemptEpoch: 2 }]);
    assert.deepEqual(
      store.getStatus(ID),
      invokedRow({
        retry: { ...POLICY, maxAttempts: 1 },
        attemptEpoch: 2,
        retryCount: 0,
        lastFailure: "Error: boom",
        failures: [{ attempt: 1, at: T0, message: "Error: boom" }],
        modifiedAt: T0 + 1_000,
      }),
    );
  });

  it("resuming an invocation that is not paused (or unknown) is dropped", () => {
    const store = started();
    const before = tables(store);
    assert.deepEqual(step(store, { type: "resume", invocationId: ID }), []);
    assert.deepEqual(step(store, { type: "resume", invocationId: ID2 }), []);
    assert.deepEqual(tables(store), before);
  });
});

describe("apply: purge", () => {
  it("purges a completed invocation: status and cleanup timer gone, no actions", () => {
    const store = started({ idempotencyKey: "k1" });
    step(store, end({ ok: enc(1) }));
    assert.deepEqual(step(store, { type: "purge", invocationId: ID }), []);
    assert.equal(store.getStatus(ID), undefined);
    assert.deepEqual(store.listTimers(FOREVER, 100), []);
    // A later cleanup fire (already deleted) and a duplicate purge change nothing.
    const before = tables(store);
    assert.deepEqual(step(store, { type: "timer_fired", timer: { kind: "cleanup", invocationId: ID } }), []);
    assert.deepEqual(step(store, { type: "purge", invocationId: ID }), []);
    assert.deepEqual(tables(store), before);
  });

  it("refuses to purge an invocation that is not completed", () => {
    const store = started();
    step(store, entry(1, runEntry("a", 1)));
    const before = tables(store);
    assert.deepEqual(step(store, { type: "purge", invocationId: ID }), []);
    assert.deepEqual(tables(store), before);
  });
});

describe("apply: determinism", () => {
  const records: { header: RecordHeader; body: RecordBody }[] = [
    { header: { at: T0 }, body: { type: "announce_leader", leaderEpoch: 1 } },
    { header: { at: T0 + 1 }, body: invoke({ idempotencyKey: "k1" }) },
    {
      header: { at: T0 + 2 },
      body: invoke({ invocationId: ID2, target: OBJ, handlerKind: "exclusive" }),
    },
    {
      header: { at: T0 + 2 },
      body: invoke({ invocationId: ID3, target: OBJ, handlerKind: "exclusive", executeAt: T0 + 500 }),
    },
    { header: { at: T0 + 3, leaderEpoch: 1 }, body: entry(1, runEntry("a", 1)) },
    {
      header: { at: T0 + 3, leaderEpoch: 1 },
      body: entry(1, { type: "set_state", key: "count", value: enc(1) }, 1, ID2),
    },
    {
      header: { at: T0 + 3, leaderEpoch: 1 },
      body: entry(
        2,
        {
          type: "call",
          target: { service: "Mailer", handler: "send" },
          argument: ARG,
          headers: {},
          invocationIdCompletionId: 1,
          resultCompletionId: 2,
        },
        1,
        ID2,
      ),
    },
    { header: { at: T0 + 4, leaderEpoch: 1 }, body: failed(1, "Error: flaky") },
    { header: { at: T0 + 54, leaderEpoch: 1 }, body: retryFired },
    { header: { at: T0 + 60, leaderEpoch: 1 }, body: entry(2, runEntry("zombie", 2), 1) },
    {
      header: { at: T0 + 61, leaderEpoch: 1 },
      body: entry(2, { type: "sleep", wakeUpAt: T0 + 300, completionId: 2 }, 2),
    },
    { header: { at: T0 + 62, leaderEpoch: 1 }, body: entry(3, runEntry("c", 3), 2) },
    {
      header: { at: T0 + 62, leaderEpoch: 1 },
      body: {
        type: "run_completion",
        invocationId: ID,
        attemptEpoch: 2,
        completionId: 3,
        result: { ok: enc(3) },
      },
    },
    {
      header: { at: T0 + 62, leaderEpoch: 1 },
      body: { type: "resolve_awakeable", invocationId: ID, signalId: 17, result: { ok: enc("early") } },
    },
    {
      header: { at: T0 + 63, leaderEpoch: 1 },
      body: {
        type: "suspend",
        invocationId: ID,
        attemptEpoch: 2,
        waitingCompletions: [2],
        waitingSignals: [1],
      },
    },
    { header: { at: T0 + 70 }, body: { type: "announce_leader", leaderEpoch: 2 } },
    { header: { at: T0 + 71, leaderEpoch: 1 }, body: end({ ok: enc("old leader") }, 2) },
    {
      header: { at: T0 + 80, dedup: { producer: "partition-1", seq: 1 } },
      body: { type: "invocation_response", invocationId: ID2, completionId: 2, result: { ok: enc("sent") } },
    },
    {
      header: { at: T0 + 81, dedup: { producer: "partition-1", seq: 1 } },
      body: { type: "invocation_response", invocationId: ID2, completionId: 2, result: { ok: enc("dup") } },
    },
    { header: { at: T0 + 90, leaderEpoch: 2 }, body: end({ ok: enc(1) }, 2, ID2) },
    { header: { at: T0 + 91, leaderEpoch: 2 }, body: { type: "truncate_outbox", upToSeq: 1 } },
    {
      header: { at: T0 + 300, leaderEpoch: 2 },
      body: { type: "timer_fired", timer: { kind: "sleep", invocationId: ID, completionId: 2 } },
    },
    { header: { at: T0 + 301, leaderEpoch: 2 }, body: entry(4, runEntry("b", 4), 3) },
    { header: { at: T0 + 400, leaderEpoch: 2 }, body: end({ ok: enc("done") }, 3) },
    {
      header: { at: T0 + 500, leaderEpoch: 2 },
      body: { type: "timer_fired", timer: { kind: "delayed_invoke", invocationId: ID3 } },
    },
    {
      header: { at: T0 + 501, leaderEpoch: 2 },
      body: { type: "attempt_failed", invocationId: ID3, attemptEpoch: 1, message: "x", retryAfterMs: 5 },
    },
  ];

  /** Applies every record into a fresh store, one transaction per record or one for all. */
  const replay = (batched: boolean) => {
    const store = new MemoryStore(0);
    const applyAll = () =>
      records.map((r, i) => {
        const a = apply(store, { lsn: i + 1, ...r });
        store.setAppliedLsn(i + 1);
        return a;
      });
    const actions = batched
      ? store.transaction(applyAll)
      : records.map((r, i) =>
          store.transaction(() => {
            const a = apply(store, { lsn: i + 1, ...r });
            store.setAppliedLsn(i + 1);
            return a;
          }),
        );
    return { actions, dump: store.dump(), store };
  };

  it("replaying the same records into a fresh store yields the same actions and an identical dump()", () => {
    const first = replay(false);
    const second = replay(false);
    const batched = replay(true);
    assert.deepEqual(second.dump, first.dump);
    assert.deepEqual(second.actions, first.actions);
    assert.deepEqual(batched.dump, first.dump);
    assert.deepEqual(batched.actions, first.actions);
  });

  it("the replayed log did real work: completions, a lock passed on, state, a retained output, a backoff", () => {
    const { store, actions } = replay(false);
    const s1 = store.getStatus(ID);
    assert.equal(s1?.state, "completed");
    assert.deepEqual(s1?.result, { ok: enc("done") });
    assert.equal(store.getStatus(ID2), undefined);
    assert.equal(store.getStatus(ID3)?.state, "backing-off");
    assert.equal(store.getLock("Counter", "k1"), ID3);
    assert.deepEqual(store.getState("Counter", "k1", "count"), enc(1));
    // The sleep's completion re-invoked the suspended invocation with epoch 3.
    assert.deepEqual(actions[21], [{ type: "invoke", invocationId: ID, attemptEpoch: 3 }]);
    // The duplicated response (same dedup) was dropped; the old leader's end too.
    assert.deepEqual(actions[18], []);
    assert.deepEqual(actions[16], []);
    // The call's invoke message (outbox seq 1) was shipped and truncated.
    assert.deepEqual(
      store.listOutbox(0, 100).map((r) => r.seq),
      [],
    );
  });
});
