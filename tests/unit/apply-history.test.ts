// Proves apply keeps completed invocations for history (invariant 9): status, result and journal (with each entry's time and attempt) for their retentions, purged only by their cleanup timers or a purge, the idempotency window unchanged, records from before history keeping the old rule; and retentionOf resolves the retentions as restate-server 1.7 does — golden tests on a MemoryStore.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { CommandEntry, JournalEntry, Result } from "@onelog/sdk/internal";
import { apply, type Action } from "../../packages/onelog/src/internal/partition/apply.js";
import type {
  InvokeBody,
  RecordBody,
  RecordHeader,
  RetryPolicy,
  Target,
  TimerKey,
} from "../../packages/onelog/src/internal/partition/records.js";
import { retentionOf } from "../../packages/onelog/src/internal/partition/retention.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import { FAILURES_KEPT } from "../../packages/onelog/src/internal/partition/store/store.js";

const T0 = 1_700_000_000_000;
const ID = "inv_00000000000000000000000000000000000000a1";
const PARENT = "inv_00000000000000000000000000000000000000f9";
const TARGET: Target = { service: "Greeter", handler: "greet" };
const WF: Target = { service: "Signup", handler: "run", key: "w1" };
const POLICY: RetryPolicy = {
  initialIntervalMs: 50,
  factor: 2,
  maxIntervalMs: 60_000,
  maxAttempts: 100,
  onMaxAttempts: "pause",
};
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const FOREVER = Number.MAX_SAFE_INTEGER;
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const OUT: Result = { ok: enc("hello Ada") };
const INPUT: JournalEntry = { type: "input", argument: enc("Ada"), headers: {} };
const RUN: CommandEntry = { type: "run", name: "compose", completionId: 1 };

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
    argument: enc("Ada"),
    headers: {},
    retry: POLICY,
    retentionMs: DAY,
    journalRetentionMs: DAY,
    ...overrides,
  };
}

const entry = (commandIndex: number, e: CommandEntry, epoch = 1): RecordBody => ({
  type: "entry",
  invocationId: ID,
  attemptEpoch: epoch,
  commandIndex,
  entry: e,
});
const runDone = (epoch = 1): RecordBody => ({
  type: "run_completion",
  invocationId: ID,
  attemptEpoch: epoch,
  completionId: 1,
  result: OUT,
});
const end = (result: Result = OUT, epoch = 1): RecordBody => ({
  type: "end",
  invocationId: ID,
  attemptEpoch: epoch,
  result,
});
const fired = (kind: TimerKey["kind"]): RecordBody => ({
  type: "timer_fired",
  timer: { kind, invocationId: ID },
});
const timers = (store: MemoryStore) => store.listTimers(FOREVER, 100);

/** An invocation that ran one step and ended at T0 + 30 (input at T0, step at +10, its result at +20). */
function finished(overrides: Partial<InvokeBody> = {}): MemoryStore {
  const store = new MemoryStore(0);
  step(store, invoke(overrides));
  step(store, entry(1, RUN), { at: T0 + 10 });
  step(store, runDone(), { at: T0 + 20 });
  step(store, end(), { at: T0 + 30 });
  return store;
}

describe("apply: completed invocations are kept for history (invariant 9)", () => {
  it("keeps status, result and journal for the retention, answers waiters, and arms one cleanup timer", () => {
    const store = new MemoryStore(0);
    step(store, invoke());
    step(store, entry(1, RUN), { at: T0 + 10 });
    step(store, runDone(), { at: T0 + 20 });
    const actions = step(store, end(), { at: T0 + 30 });
    const cleanup = { kind: "cleanup", invocationId: ID } as const;
    assert.deepEqual(actions, [
      { type: "completed", invocationId: ID, result: OUT },
      { type: "schedule_timer", dueAt: T0 + 30 + DAY, timer: cleanup },
    ]);
    const s = store.getStatus(ID)!;
    assert.equal(s.state, "completed");
    assert.deepEqual(s.result, OUT);
    assert.equal(s.completedAt, T0 + 30);
    assert.equal(s.journalLength, 3);
    assert.equal(s.commandCount, 2);
    assert.deepEqual(store.getJournal(ID), [INPUT, RUN, { type: "completion", completionId: 1, value: OUT }]);
    // Each entry's time comes from its record; commands and proposed step results name their attempt.
    assert.deepEqual(store.getJournalMeta(ID), [
      { at: T0 },
      { at: T0 + 10, attempt: 1 },
      { at: T0 + 20, attempt: 1 },
    ]);
    assert.deepEqual(timers(store), [{ dueAt: T0 + 30 + DAY, key: cleanup }]);
  });

  it("the cleanup timer forgets status and journal; nothing is left", () => {
    const store = finished();
    assert.deepEqual(step(store, fired("cleanup"), { at: T0 + 30 + DAY }), []);
    assert.equal(store.getStatus(ID), undefined);
    assert.deepEqual(store.getJournal(ID), []);
    assert.deepEqual(store.getJournalMeta(ID), []);
    assert.deepEqual(timers(store), []);
  });

  it("a shorter journal retention drops the journal first (journal_cleanup), the status stays until cleanup", () => {
    const store = finished({ journalRetentionMs: HOUR });
    assert.deepEqual(timers(store), [
      { dueAt: T0 + 30 + HOUR, key: { kind: "journal_cleanup", invocationId: ID } },
      { dueAt: T0 + 30 + DAY, key: { kind: "cleanup", invocationId: ID } },
    ]);
    assert.deepEqual(step(store, fired("journal_cleanup"), { at: T0 + 30 + HOUR }), []);
    assert.deepEqual(store.getJournal(ID), []);
    assert.equal(store.getStatus(ID)?.state, "completed");
    assert.equal(store.getStatus(ID)?.journalLength, 0);
    assert.deepEqual(store.getStatus(ID)?.result, OUT);
    step(store, fired("cleanup"), { at: T0 + 30 + DAY });
    assert.equal(store.getStatus(ID), undefined);
  });

  it("journal retention 0: the status and result are kept, the journal is dropped at completion", () => {
    const store = finished({ journalRetentionMs: 0 });
    assert.equal(store.getStatus(ID)?.state, "completed");
    assert.equal(store.getStatus(ID)?.journalLength, 0);
    assert.deepEqual(store.getJournal(ID), []);
    assert.deepEqual(timers(store), [{ dueAt: T0 + 30 + DAY, key: { kind: "cleanup", invocationId: ID } }]);
  });

  it("a journal retention above the completion retention is capped by it: one timer, journal and status go together", () => {
    const store = finished({ retentionMs: HOUR, journalRetentionMs: DAY });
    assert.deepEqual(timers(store), [{ dueAt: T0 + 30 + HOUR, key: { kind: "cleanup", invocationId: ID } }]);
    step(store, fired("cleanup"), { at: T0 + 30 + HOUR });
    assert.equal(store.getStatus(ID), undefined);
    assert.deepEqual(store.getJournal(ID), []);
  });

  it("retention 0: forgotten at completion, no timer", () => {
    const store = finished({ retentionMs: 0, journalRetentionMs: 0 });
    assert.equal(store.getStatus(ID), undefined);
    assert.deepEqual(store.getJournal(ID), []);
    assert.deepEqual(timers(store), []);
  });

  it("a record from before history (no journal retention) keeps the old rule: a plain invocation is forgotten", () => {
    const { journalRetentionMs: _j, ...legacy } = invoke();
    const store = new MemoryStore(0);
    step(store, legacy);
    step(store, end(), { at: T0 + 30 });
    assert.equal(store.getStatus(ID), undefined);
    assert.deepEqual(store.getJournal(ID), []);
    assert.deepEqual(timers(store), []);
  });

  it("a record from before history with an idempotency key is kept for its retention, without its journal", () => {
    const { journalRetentionMs: _j, ...legacy } = invoke({ idempotencyKey: "k" });
    const store = new MemoryStore(0);
    step(store, legacy);
    step(store, end(), { at: T0 + 30 });
    assert.equal(store.getStatus(ID)?.state, "completed");
    assert.equal(store.getStatus(ID)?.journalLength, 0);
    assert.deepEqual(store.getJournal(ID), []);
    assert.deepEqual(timers(store), [{ dueAt: T0 + 30 + DAY, key: { kind: "cleanup", invocationId: ID } }]);
  });

  it("the idempotency window is the completion retention: a duplicate inside it gets the result, after it starts anew", () => {
    const store = finished({ idempotencyKey: "k", retentionMs: HOUR, journalRetentionMs: HOUR });
    const dup = step(store, invoke({ idempotencyKey: "k", retentionMs: HOUR }), { at: T0 + HOUR });
    assert.deepEqual(dup, [{ type: "completed", invocationId: ID, result: OUT }]);
    step(store, fired("cleanup"), { at: T0 + 30 + HOUR });
    const fresh = step(store, invoke({ idempotencyKey: "k", retentionMs: HOUR }), { at: T0 + 2 * HOUR });
    assert.deepEqual(fresh, [{ type: "invoke", invocationId: ID, attemptEpoch: 1 }]);
    assert.deepEqual(store.getJournal(ID), [INPUT]);
  });

  it("nothing changes a completed invocation: late notifications, step results, ends and cancels are dropped", () => {
    const store = finished();
    const before = store.dump();
    step(store, { type: "invocation_response", invocationId: ID, completionId: 7, result: OUT });
    step(store, { type: "resolve_awakeable", invocationId: ID, signalId: 17, result: OUT });
    step(store, runDone());
    step(store, end({ ok: enc("other") }));
    step(store, { type: "cancel", invocationId: ID });
    step(store, { type: "kill", invocationId: ID });
    step(store, { type: "pause", invocationId: ID });
    step(store, { type: "resume", invocationId: ID });
    const { appliedLsn: _a, ...after } = store.dump() as { appliedLsn: number };
    const { appliedLsn: _b, ...was } = before as { appliedLsn: number };
    assert.deepEqual(after, was);
  });

  it("purge forgets a completed invocation before its retention: status, journal and both timers", () => {
    const store = finished({ journalRetentionMs: HOUR });
    assert.deepEqual(step(store, { type: "purge", invocationId: ID }, { at: T0 + 60 }), []);
    assert.equal(store.getStatus(ID), undefined);
    assert.deepEqual(store.getJournal(ID), []);
    assert.deepEqual(timers(store), []);
  });

  it("a workflow run's journal_cleanup drops only the journal; its cleanup drops state and promises too", () => {
    const store = new MemoryStore(0);
    step(store, invoke({ target: WF, handlerKind: "workflow", retentionMs: DAY, journalRetentionMs: HOUR }));
    step(store, entry(1, { type: "set_state", key: "email", value: enc("a@b") }));
    step(store, end(), { at: T0 + 30 });
    step(store, fired("journal_cleanup"), { at: T0 + 30 + HOUR });
    assert.deepEqual(store.getJournal(ID), []);
    assert.deepEqual(store.getState("Signup", "w1", "email"), enc("a@b"));
    step(store, fired("cleanup"), { at: T0 + 30 + DAY });
    assert.equal(store.getStatus(ID), undefined);
    assert.equal(store.getState("Signup", "w1", "email"), undefined);
  });

  it("keeps who invoked it, and the last failed attempts with their times (at most FAILURES_KEPT)", () => {
    const store = new MemoryStore(0);
    const invokedBy = { invocationId: PARENT, target: { service: "Caller", handler: "calls" } };
    step(store, invoke({ invokedBy }));
    const n = FAILURES_KEPT + 2;
    for (let epoch = 1; epoch <= n; epoch++) {
      step(
        store,
        { type: "attempt_failed", invocationId: ID, attemptEpoch: epoch, message: `Error: ${epoch}` },
        {
          at: T0 + epoch * 1000,
        },
      );
      step(store, fired("retry"), { at: T0 + epoch * 1000 + 500 });
    }
    step(store, end(OUT, n + 1), { at: T0 + 99_000 });
    const s = store.getStatus(ID)!;
    assert.equal(s.state, "completed");
    assert.deepEqual(s.invokedBy, invokedBy);
    assert.equal(s.retryCount, n);
    assert.equal(s.attemptEpoch, n + 1);
    assert.deepEqual(
      s.failures,
      Array.from({ length: FAILURES_KEPT }, (_, i) => {
        const attempt = i + 3;
        return { attempt, at: T0 + attempt * 1000, message: `Error: ${attempt}` };
      }),
    );
  });
});

describe("retentionOf: the retentions restate-server 1.7 gives (partition/retention.ts)", () => {
  const h = (more: { kind?: string; journalRetentionMs?: number } = {}) => ({
    kind: more.kind ?? "service",
    idempotencyRetentionMs: DAY,
    ...(more.journalRetentionMs === undefined ? {} : { journalRetentionMs: more.journalRetentionMs }),
  });
  const ingress = { fromIngress: true, keyed: false };
  const fromHandler = { fromIngress: false, keyed: false };

  it("from the ingress: status for the idempotency retention, journal for the journal retention capped by it", () => {
    assert.deepEqual(retentionOf(h(), ingress), { retentionMs: DAY, journalRetentionMs: DAY });
    assert.deepEqual(retentionOf(h({ journalRetentionMs: HOUR }), ingress), {
      retentionMs: DAY,
      journalRetentionMs: HOUR,
    });
    assert.deepEqual(retentionOf(h({ journalRetentionMs: 0 }), ingress), {
      retentionMs: DAY,
      journalRetentionMs: 0,
    });
    assert.deepEqual(
      retentionOf({ ...h({ journalRetentionMs: 2 * DAY }), idempotencyRetentionMs: HOUR }, ingress),
      {
        retentionMs: HOUR,
        journalRetentionMs: HOUR,
      },
    );
    assert.deepEqual(retentionOf({ ...h({ journalRetentionMs: DAY }), idempotencyRetentionMs: 0 }, ingress), {
      retentionMs: 0,
      journalRetentionMs: 0,
    });
  });

  it("a call or send from a handler without a key: both for the journal retention", () => {
    assert.deepEqual(retentionOf(h({ journalRetentionMs: HOUR }), fromHandler), {
      retentionMs: HOUR,
      journalRetentionMs: HOUR,
    });
    assert.deepEqual(retentionOf(h({ journalRetentionMs: 0 }), fromHandler), {
      retentionMs: 0,
      journalRetentionMs: 0,
    });
  });

  it("with a key or as a workflow run, from anywhere: the idempotency (workflow) retention", () => {
    assert.deepEqual(retentionOf(h({ journalRetentionMs: 0 }), { fromIngress: false, keyed: true }), {
      retentionMs: DAY,
      journalRetentionMs: 0,
    });
    assert.deepEqual(retentionOf(h({ kind: "workflow", journalRetentionMs: HOUR }), fromHandler), {
      retentionMs: DAY,
      journalRetentionMs: HOUR,
    });
  });

  it("a handler without a journal retention gets the default, 24 h", () => {
    assert.deepEqual(retentionOf(h(), fromHandler), { retentionMs: DAY, journalRetentionMs: DAY });
  });
});
