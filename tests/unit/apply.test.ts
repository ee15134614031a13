// Proves apply(store, record) -> actions is the state machine apply.ts documents (invariants 1–5), by golden tests: given this MemoryStore and this record, exactly these actions and these rows.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { JournalEntry, Result } from "@onelog/sdk/internal";
import { apply, backoffMs, type Action } from "../../packages/onelog/src/internal/apply.js";
import type {
  InvokeBody,
  RecordBody,
  RecordHeader,
  RetryPolicy,
  Target,
} from "../../packages/onelog/src/internal/records.js";
import { MemoryStore } from "../../packages/onelog/src/internal/store/memory-store.js";
import { InvariantError, type InvocationStatus } from "../../packages/onelog/src/internal/store/store.js";

// ---------------------------------------------------------------------------------------------
// Helpers

const T0 = 1_700_000_000_000;
const ID = "inv_00000000000000000000000000000000000000a1";
const ID2 = "inv_00000000000000000000000000000000000000b2";
const TARGET: Target = { service: "Greeter", handler: "greet" };
const POLICY: RetryPolicy = {
  initialIntervalMs: 50,
  factor: 2,
  maxIntervalMs: 60_000,
  maxAttempts: 100,
  onMaxAttempts: "pause",
};
const RETENTION = 86_400_000;
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
    argument: ARG,
    headers: { "content-type": "application/json" },
    retry: POLICY,
    retentionMs: RETENTION,
    ...overrides,
  };
}

const INPUT: JournalEntry = { type: "input", argument: ARG, headers: { "content-type": "application/json" } };
const runEntry = (name: string, value: unknown): JournalEntry => ({
  type: "run",
  name,
  result: { ok: enc(value) },
});

/** The status row of a fresh invocation after its first invoke. */
function invokedRow(overrides: Partial<InvocationStatus> = {}): InvocationStatus {
  return {
    invocationId: ID,
    target: TARGET,
    state: "invoked",
    attemptEpoch: 1,
    retryCount: 0,
    journalLength: 1,
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

// ---------------------------------------------------------------------------------------------

describe("apply: invoke", () => {
  it("starts the invocation: status invoked with epoch 1, the input as entry 0, one invoke action", () => {
    const store = new MemoryStore(0);
    const actions = step(store, invoke());
    assert.deepEqual(actions, [{ type: "invoke", invocationId: ID, attemptEpoch: 1 }]);
    assert.deepEqual(store.getStatus(ID), invokedRow());
    assert.deepEqual(store.getJournal(ID), [INPUT]);
    assert.deepEqual(store.listInvoked(), [ID]);
    assert.deepEqual(store.listTimers(Number.MAX_SAFE_INTEGER, 100), []);
  });

  it("keeps the idempotency key on the status row", () => {
    const store = started({ idempotencyKey: "k1" });
    assert.deepEqual(store.getStatus(ID), invokedRow({ idempotencyKey: "k1" }));
  });

  it("with executeAt in the future: scheduled, a delayed_invoke timer row, schedule_timer, no invoke", () => {
    const store = new MemoryStore(0);
    const executeAt = T0 + 5_000;
    const actions = step(store, invoke({ executeAt }));
    const timer = { kind: "delayed_invoke", invocationId: ID } as const;
    assert.deepEqual(actions, [{ type: "schedule_timer", dueAt: executeAt, timer }]);
    assert.deepEqual(store.getStatus(ID), invokedRow({ state: "scheduled", attemptEpoch: 0 }));
    assert.deepEqual(store.getJournal(ID), [INPUT]);
    assert.deepEqual(store.listTimers(Number.MAX_SAFE_INTEGER, 100), [{ dueAt: executeAt, key: timer }]);
    assert.deepEqual(store.listInvoked(), []);

    // The timer fires: the first attempt starts with epoch 1.
    const fired = step(store, { type: "timer_fired", timer }, { at: executeAt + 3 });
    assert.deepEqual(fired, [{ type: "invoke", invocationId: ID, attemptEpoch: 1 }]);
    assert.deepEqual(store.getStatus(ID), invokedRow({ modifiedAt: executeAt + 3 }));
    assert.deepEqual(store.listTimers(Number.MAX_SAFE_INTEGER, 100), []);
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
    step(store, { type: "entry", invocationId: ID, attemptEpoch: 1, index: 1, entry: runEntry("a", 1) });
    const before = tables(store);
    const actions = step(store, invoke({ idempotencyKey: "k1", argument: enc("Someone else") }), {
      at: T0 + 10,
    });
    assert.deepEqual(actions, []);
    assert.deepEqual(tables(store), before);
  });

  it("a duplicate after completion (key retained): completed with the stored result, nothing changes", () => {
    const store = started({ idempotencyKey: "k1" });
    const result: Result = { ok: enc("hello Ada") };
    step(store, { type: "end", invocationId: ID, attemptEpoch: 1, result });
    const before = tables(store);
    const actions = step(store, invoke({ idempotencyKey: "k1" }), { at: T0 + 10 });
    assert.deepEqual(actions, [{ type: "completed", invocationId: ID, result }]);
    assert.deepEqual(tables(store), before);
  });
});

describe("apply: journal entries (the conditional append)", () => {
  it("an entry with the current epoch at index == journal length is appended and acked", () => {
    const store = started();
    const entry = runEntry("compose", "hello Ada");
    const actions = step(
      store,
      { type: "entry", invocationId: ID, attemptEpoch: 1, index: 1, entry },
      { at: T0 + 7 },
    );
    assert.deepEqual(actions, [{ type: "ack", invocationId: ID, attemptEpoch: 1, index: 1 }]);
    assert.deepEqual(store.getJournal(ID), [INPUT, entry]);
    assert.deepEqual(store.getStatus(ID), invokedRow({ journalLength: 2, modifiedAt: T0 + 7 }));
  });

  it("an entry with a stale epoch is dropped: no actions, no change", () => {
    const store = started();
    step(store, failed(1));
    step(store, { type: "timer_fired", timer: { kind: "retry", invocationId: ID } }); // epoch 2 now
    const before = tables(store);
    const actions = step(store, {
      type: "entry",
      invocationId: ID,
      attemptEpoch: 1,
      index: 1,
      entry: runEntry("a", 1),
    });
    assert.deepEqual(actions, []);
    assert.deepEqual(tables(store), before);
  });

  it("an entry for an invocation that is not invoked (backing off) or unknown is dropped", () => {
    const store = started();
    step(store, failed(1));
    const before = tables(store);
    assert.deepEqual(
      step(store, { type: "entry", invocationId: ID, attemptEpoch: 1, index: 1, entry: runEntry("a", 1) }),
      [],
    );
    assert.deepEqual(
      step(store, { type: "entry", invocationId: ID2, attemptEpoch: 1, index: 1, entry: runEntry("a", 1) }),
      [],
    );
    assert.deepEqual(tables(store), before);
  });

  it("an index gap (or a reused index) throws InvariantError and the transaction leaves no trace", () => {
    const store = started();
    const before = store.dump();
    assert.throws(
      () =>
        step(store, { type: "entry", invocationId: ID, attemptEpoch: 1, index: 2, entry: runEntry("a", 1) }),
      (e: unknown) => e instanceof InvariantError && /entry index 2 but journal length is 1/.test(e.message),
    );
    assert.throws(
      () =>
        step(store, { type: "entry", invocationId: ID, attemptEpoch: 1, index: 0, entry: runEntry("a", 1) }),
      InvariantError,
    );
    assert.deepEqual(store.dump(), before);
  });
});

describe("apply: end", () => {
  const result: Result = { ok: enc("hello Ada") };

  it("with an idempotency key: completed action, journal deleted, status kept with a cleanup timer", () => {
    const store = started({ idempotencyKey: "k1" });
    step(store, { type: "entry", invocationId: ID, attemptEpoch: 1, index: 1, entry: runEntry("a", 1) });
    const at = T0 + 100;
    const actions = step(store, { type: "end", invocationId: ID, attemptEpoch: 1, result }, { at });
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
      }),
    );
    assert.deepEqual(store.listTimers(Number.MAX_SAFE_INTEGER, 100), [{ dueAt: at + RETENTION, key: timer }]);
    assert.deepEqual(store.listInvoked(), []);
  });

  it("without an idempotency key: completed action, journal and status deleted, no timer", () => {
    const store = started();
    const actions = step(store, { type: "end", invocationId: ID, attemptEpoch: 1, result });
    assert.deepEqual(actions, [{ type: "completed", invocationId: ID, result }]);
    assert.equal(store.getStatus(ID), undefined);
    assert.deepEqual(store.getJournal(ID), []);
    assert.deepEqual(store.listTimers(Number.MAX_SAFE_INTEGER, 100), []);
  });

  it("with an idempotency key but zero retention: deleted like one without a key", () => {
    const store = started({ idempotencyKey: "k1", retentionMs: 0 });
    const err: Result = { err: { code: 422, message: "no" } };
    assert.deepEqual(step(store, { type: "end", invocationId: ID, attemptEpoch: 1, result: err }), [
      { type: "completed", invocationId: ID, result: err },
    ]);
    assert.equal(store.getStatus(ID), undefined);
  });

  it("an end from a stale epoch is dropped", () => {
    const store = started();
    step(store, failed(1));
    step(store, { type: "timer_fired", timer: { kind: "retry", invocationId: ID } });
    const before = tables(store);
    assert.deepEqual(step(store, { type: "end", invocationId: ID, attemptEpoch: 1, result }), []);
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
        nextRetryAt: at + 50,
        modifiedAt: at,
      }),
    );
    assert.deepEqual(store.listTimers(Number.MAX_SAFE_INTEGER, 100), [{ dueAt: at + 50, key: timer }]);
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
      const fired = step(
        store,
        { type: "timer_fired", timer: { kind: "retry", invocationId: ID } },
        { at: at + 1 },
      );
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
    step(store, { type: "timer_fired", timer: { kind: "retry", invocationId: ID } }, { at: T0 + 7_001 });
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
    step(store, { type: "timer_fired", timer: { kind: "retry", invocationId: ID } });
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
        modifiedAt: at,
      }),
    );
    assert.deepEqual(store.listTimers(Number.MAX_SAFE_INTEGER, 100), []);
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
      step(store, { type: "timer_fired", timer: { kind: "retry", invocationId: ID } });
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
    const entry = runEntry("a", 1);
    step(store, { type: "entry", invocationId: ID, attemptEpoch: 1, index: 1, entry });
    step(store, failed(1, "Error: boom"), { at: T0 + 10 });
    const actions = step(
      store,
      { type: "timer_fired", timer: { kind: "retry", invocationId: ID } },
      { at: T0 + 60 },
    );
    assert.deepEqual(actions, [{ type: "invoke", invocationId: ID, attemptEpoch: 2 }]);
    assert.deepEqual(
      store.getStatus(ID),
      invokedRow({
        attemptEpoch: 2,
        retryCount: 1,
        journalLength: 2,
        lastFailure: "Error: boom",
        modifiedAt: T0 + 60,
      }),
    );
    assert.deepEqual(store.getJournal(ID), [INPUT, entry]);
    assert.deepEqual(store.listTimers(Number.MAX_SAFE_INTEGER, 100), []);
  });

  it("a duplicate fire, or a fire without a timer row, is dropped", () => {
    const store = started();
    step(store, failed(1));
    const timer = { kind: "retry", invocationId: ID } as const;
    step(store, { type: "timer_fired", timer });
    const before = tables(store);
    assert.deepEqual(step(store, { type: "timer_fired", timer }), []);
    assert.deepEqual(
      step(store, { type: "timer_fired", timer: { kind: "delayed_invoke", invocationId: ID } }),
      [],
    );
    assert.deepEqual(step(store, { type: "timer_fired", timer: { kind: "retry", invocationId: ID2 } }), []);
    assert.deepEqual(tables(store), before);
    assert.equal(store.getStatus(ID)?.attemptEpoch, 2);
  });

  it("the cleanup timer removes the completed status; the id can then be invoked afresh", () => {
    const store = started({ idempotencyKey: "k1" });
    step(store, { type: "end", invocationId: ID, attemptEpoch: 1, result: { ok: enc(1) } });
    const actions = step(
      store,
      { type: "timer_fired", timer: { kind: "cleanup", invocationId: ID } },
      { at: T0 + RETENTION },
    );
    assert.deepEqual(actions, []);
    assert.equal(store.getStatus(ID), undefined);
    assert.deepEqual(store.listTimers(Number.MAX_SAFE_INTEGER, 100), []);
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
    const ID3 = "inv_00000000000000000000000000000000000000c3";
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
    assert.deepEqual(
      step(store, { type: "entry", invocationId: ID, attemptEpoch: 1, index: 1, entry: runEntry("a", 1) }),
      [],
    );
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
    const entry = runEntry("a", 1);
    const body: RecordBody = { type: "entry", invocationId: ID, attemptEpoch: 2, index: 1, entry };
    assert.deepEqual(step(store, body, { leaderEpoch: 1 }), []);
    assert.deepEqual(step(store, invoke({ invocationId: ID2 }), { leaderEpoch: 1 }), []);
    assert.deepEqual(tables(store), before);
    assert.deepEqual(step(store, body, { leaderEpoch: 2 }), [
      { type: "ack", invocationId: ID, attemptEpoch: 2, index: 1 },
    ]);
    assert.deepEqual(step(store, invoke({ invocationId: ID2 })), [
      { type: "invoke", invocationId: ID2, attemptEpoch: 1 },
    ]);
  });
});

describe("apply: resume", () => {
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

describe("apply: determinism", () => {
  it("replaying the same records into a fresh store yields the same actions and an identical dump()", () => {
    const records: { header: RecordHeader; body: RecordBody }[] = [
      { header: { at: T0 }, body: { type: "announce_leader", leaderEpoch: 1 } },
      { header: { at: T0 + 1 }, body: invoke({ idempotencyKey: "k1" }) },
      { header: { at: T0 + 2 }, body: invoke({ invocationId: ID2, executeAt: T0 + 500 }) },
      {
        header: { at: T0 + 3, leaderEpoch: 1 },
        body: { type: "entry", invocationId: ID, attemptEpoch: 1, index: 1, entry: runEntry("a", 1) },
      },
      { header: { at: T0 + 4, leaderEpoch: 1 }, body: failed(1, "Error: flaky") },
      {
        header: { at: T0 + 54, leaderEpoch: 1 },
        body: { type: "timer_fired", timer: { kind: "retry", invocationId: ID } },
      },
      {
        header: { at: T0 + 60, leaderEpoch: 1 },
        body: { type: "entry", invocationId: ID, attemptEpoch: 1, index: 2, entry: runEntry("zombie", 0) },
      },
      { header: { at: T0 + 70 }, body: { type: "announce_leader", leaderEpoch: 2 } },
      {
        header: { at: T0 + 80, leaderEpoch: 1 },
        body: { type: "end", invocationId: ID, attemptEpoch: 3, result: { ok: enc("old leader") } },
      },
      {
        header: { at: T0 + 90, leaderEpoch: 2 },
        body: { type: "entry", invocationId: ID, attemptEpoch: 3, index: 2, entry: runEntry("b", 2) },
      },
      {
        header: { at: T0 + 100, leaderEpoch: 2 },
        body: { type: "end", invocationId: ID, attemptEpoch: 3, result: { ok: enc("done") } },
      },
      {
        header: { at: T0 + 500, leaderEpoch: 2 },
        body: { type: "timer_fired", timer: { kind: "delayed_invoke", invocationId: ID2 } },
      },
      {
        header: { at: T0 + 501, leaderEpoch: 2 },
        body: { type: "attempt_failed", invocationId: ID2, attemptEpoch: 1, message: "x", retryAfterMs: 5 },
      },
    ];
    const run = () => {
      const store = new MemoryStore(0);
      const actions = store.transaction(() =>
        records.map((r, i) => {
          const a = apply(store, { lsn: i + 1, ...r });
          store.setAppliedLsn(i + 1);
          return a;
        }),
      );
      return { actions, dump: store.dump() };
    };
    const first = run();
    const second = run();
    assert.deepEqual(second.dump, first.dump);
    assert.deepEqual(second.actions, first.actions);
    // The replay did real work: ID completed with the new leader's result, ID2 is backing off.
    const status = (first.dump as { status: [string, InvocationStatus][] }).status;
    assert.deepEqual(
      status.map(([id, s]) => [id, s.state]),
      [
        [ID, "completed"],
        [ID2, "backing-off"],
      ],
    );
    assert.deepEqual(status[0]?.[1].result, { ok: enc("done") });
  });
});
