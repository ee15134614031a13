/**
 * apply(store, record) -> actions: the partition's state machine (DESIGN.md §2.3).
 *
 * Pure: no clock, no randomness, no I/O but the store it is given. Time comes from the record
 * header. The processor calls it inside one store transaction per batch and, if it is the
 * leader, performs the returned actions after the commit.
 *
 * Invariants:
 * 1. Records proposed by a leader older than the store's leader epoch are dropped.
 * 2. An effect is applied only if its invocation is `invoked` with the same attempt epoch
 *    (the conditional append); anything else is a zombie's effect and is dropped.
 * 3. A journal entry is applied only at index == journalLength of its invocation.
 * 4. A timer fires at most once: its row is deleted when the fire is applied; a fire without a
 *    row is stale and dropped.
 * 5. Every transition to `invoked` bumps the attempt epoch and emits exactly one invoke action.
 */
import type { Result } from "@onelog/sdk/internal";
import type {
  AnnounceLeaderBody,
  AttemptFailedBody,
  EndEffectBody,
  EntryEffectBody,
  InvokeBody,
  LogRecord,
  RecordHeader,
  ResumeBody,
  TimerFiredBody,
  TimerKey,
} from "./records.js";
import { InvariantError, type InvocationStatus, type PartitionStore } from "./store/store.js";

/** What the leader does after a batch commits. */
export type Action =
  /** Start an attempt of an invocation with this epoch (aborting any older attempt). */
  | { readonly type: "invoke"; readonly invocationId: string; readonly attemptEpoch: number }
  /** Entry `index` of this attempt is durable: resolve the step waiting for it. */
  | {
      readonly type: "ack";
      readonly invocationId: string;
      readonly attemptEpoch: number;
      readonly index: number;
    }
  /** The invocation has a result: answer whoever waits for it. */
  | { readonly type: "completed"; readonly invocationId: string; readonly result: Result }
  /** Arm a durable timer (its row is in the store). */
  | { readonly type: "schedule_timer"; readonly dueAt: number; readonly timer: TimerKey }
  /** Stop the running attempt, if any (paused, killed). */
  | { readonly type: "abort"; readonly invocationId: string }
  /** This partition has a new leader with this epoch. */
  | { readonly type: "leader"; readonly leaderEpoch: number };

/** Applies one record to the store and returns the actions it calls for. */
export function apply(store: PartitionStore, record: LogRecord): Action[] {
  const { header, body } = record;
  if (header.leaderEpoch !== undefined && header.leaderEpoch < store.getLeaderEpoch()) return []; // 1
  switch (body.type) {
    case "invoke":
      return applyInvoke(store, record.lsn, header, body);
    case "entry":
      return applyEntry(store, header, body);
    case "end":
      return applyEnd(store, header, body);
    case "attempt_failed":
      return applyAttemptFailed(store, header, body);
    case "timer_fired":
      return applyTimerFired(store, header, body);
    case "announce_leader":
      return applyAnnounceLeader(store, header, body);
    case "resume":
      return applyResume(store, header, body);
  }
}

function applyInvoke(store: PartitionStore, lsn: number, h: RecordHeader, b: InvokeBody): Action[] {
  const existing = store.getStatus(b.invocationId);
  if (existing !== undefined) {
    // A duplicate (same idempotency key): no new invocation; a completed one answers again.
    return existing.result === undefined
      ? []
      : [{ type: "completed", invocationId: b.invocationId, result: existing.result }];
  }
  store.appendJournal(b.invocationId, 0, { type: "input", argument: b.argument, headers: b.headers });
  const base = {
    invocationId: b.invocationId,
    target: b.target,
    attemptEpoch: 0,
    retryCount: 0,
    journalLength: 1,
    retry: b.retry,
    retentionMs: b.retentionMs,
    createdAt: h.at,
    createdLsn: lsn,
    modifiedAt: h.at,
    ...(b.idempotencyKey === undefined ? {} : { idempotencyKey: b.idempotencyKey }),
  };
  if (b.executeAt !== undefined && b.executeAt > h.at) {
    const timer: TimerKey = { kind: "delayed_invoke", invocationId: b.invocationId };
    store.putStatus({ ...base, state: "scheduled" });
    store.putTimer({ dueAt: b.executeAt, key: timer });
    return [{ type: "schedule_timer", dueAt: b.executeAt, timer }];
  }
  return startAttempt(store, h, { ...base, state: "scheduled" });
}

/** Transition to `invoked` with a new attempt epoch (invariant 5). */
function startAttempt(store: PartitionStore, h: RecordHeader, s: InvocationStatus): Action[] {
  const { nextRetryAt: _drop, ...rest } = s;
  const next: InvocationStatus = {
    ...rest,
    state: "invoked",
    attemptEpoch: s.attemptEpoch + 1,
    modifiedAt: h.at,
  };
  store.putStatus(next);
  return [{ type: "invoke", invocationId: s.invocationId, attemptEpoch: next.attemptEpoch }];
}

/** The status of the attempt an effect belongs to, or undefined for a zombie's effect (2). */
function currentAttempt(store: PartitionStore, id: string, epoch: number): InvocationStatus | undefined {
  const s = store.getStatus(id);
  if (s === undefined || s.state !== "invoked" || s.attemptEpoch !== epoch) return undefined;
  return s;
}

function applyEntry(store: PartitionStore, h: RecordHeader, b: EntryEffectBody): Action[] {
  const s = currentAttempt(store, b.invocationId, b.attemptEpoch);
  if (s === undefined) return [];
  if (b.index !== s.journalLength) {
    throw new InvariantError(
      `invocation ${b.invocationId} epoch ${b.attemptEpoch}: entry index ${b.index} but journal length is ${s.journalLength}`,
    ); // 3
  }
  store.appendJournal(b.invocationId, b.index, b.entry);
  store.putStatus({ ...s, journalLength: s.journalLength + 1, modifiedAt: h.at });
  return [{ type: "ack", invocationId: b.invocationId, attemptEpoch: b.attemptEpoch, index: b.index }];
}

function applyEnd(store: PartitionStore, h: RecordHeader, b: EndEffectBody): Action[] {
  const s = currentAttempt(store, b.invocationId, b.attemptEpoch);
  if (s === undefined) return [];
  return complete(store, h, s, b.result);
}

/**
 * Completes an invocation. Its journal is dropped; its status and result are kept for the
 * retention when it has an idempotency key (so duplicates get the same answer), else dropped.
 */
function complete(store: PartitionStore, h: RecordHeader, s: InvocationStatus, result: Result): Action[] {
  store.deleteJournal(s.invocationId);
  const actions: Action[] = [{ type: "completed", invocationId: s.invocationId, result }];
  if (s.idempotencyKey !== undefined && s.retentionMs > 0) {
    const { nextRetryAt: _drop, ...rest } = s;
    store.putStatus({
      ...rest,
      state: "completed",
      result,
      completedAt: h.at,
      modifiedAt: h.at,
      journalLength: 0,
    });
    const timer: TimerKey = { kind: "cleanup", invocationId: s.invocationId };
    const dueAt = h.at + s.retentionMs;
    store.putTimer({ dueAt, key: timer });
    actions.push({ type: "schedule_timer", dueAt, timer });
  } else {
    store.deleteStatus(s.invocationId);
  }
  return actions;
}

/** The wait before retry number `retryCount` (1-based), by the invocation's policy. */
export function backoffMs(policy: InvocationStatus["retry"], retryCount: number): number {
  const raw = policy.initialIntervalMs * Math.pow(policy.factor, retryCount - 1);
  return Math.min(Math.round(raw), policy.maxIntervalMs);
}

function applyAttemptFailed(store: PartitionStore, h: RecordHeader, b: AttemptFailedBody): Action[] {
  const s = currentAttempt(store, b.invocationId, b.attemptEpoch);
  if (s === undefined) return [];
  const retryCount = s.retryCount + 1;
  const failed: InvocationStatus = { ...s, retryCount, lastFailure: b.message, modifiedAt: h.at };
  const max = s.retry.maxAttempts;
  if (max !== null && retryCount >= max) {
    if (s.retry.onMaxAttempts === "kill") {
      return complete(store, h, failed, {
        err: { code: 500, message: `killed after ${retryCount} attempts; last failure: ${b.message}` },
      });
    }
    store.putStatus({ ...failed, state: "paused" });
    return [];
  }
  const dueAt = h.at + (b.retryAfterMs ?? backoffMs(s.retry, retryCount));
  const timer: TimerKey = { kind: "retry", invocationId: b.invocationId };
  store.putStatus({ ...failed, state: "backing-off", nextRetryAt: dueAt });
  store.putTimer({ dueAt, key: timer });
  return [{ type: "schedule_timer", dueAt, timer }];
}

function applyTimerFired(store: PartitionStore, h: RecordHeader, b: TimerFiredBody): Action[] {
  if (!store.deleteTimer(b.timer)) return []; // 4
  const s = store.getStatus(b.timer.invocationId);
  if (s === undefined) return [];
  switch (b.timer.kind) {
    case "retry":
      return s.state === "backing-off" ? startAttempt(store, h, s) : [];
    case "delayed_invoke":
      return s.state === "scheduled" ? startAttempt(store, h, s) : [];
    case "cleanup":
      if (s.state === "completed") {
        store.deleteStatus(s.invocationId);
        store.deleteJournal(s.invocationId);
      }
      return [];
  }
}

function applyAnnounceLeader(store: PartitionStore, h: RecordHeader, b: AnnounceLeaderBody): Action[] {
  if (b.leaderEpoch <= store.getLeaderEpoch()) return [];
  store.setLeaderEpoch(b.leaderEpoch);
  // Attempts of the old leader are gone or zombies: every invoked invocation starts anew.
  const actions: Action[] = [{ type: "leader", leaderEpoch: b.leaderEpoch }];
  for (const id of store.listInvoked()) {
    const s = store.getStatus(id);
    if (s !== undefined) actions.push(...startAttempt(store, h, s));
  }
  return actions;
}

function applyResume(store: PartitionStore, h: RecordHeader, b: ResumeBody): Action[] {
  const s = store.getStatus(b.invocationId);
  if (s === undefined || s.state !== "paused") return [];
  return startAttempt(store, h, { ...s, retryCount: 0 });
}
