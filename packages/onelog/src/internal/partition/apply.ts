/**
 * apply(store, record) -> actions: the partition's state machine (docs/architecture.md).
 *
 * Pure: no clock, no randomness, no I/O but the store it is given. Time comes from the record
 * header. The processor calls it inside one store transaction per batch and, if it is the
 * leader, performs the returned actions after the commit.
 *
 * Invariants:
 * 1. Records proposed by a leader older than the store's leader epoch are dropped; shipped
 *    messages whose (producer, seq) was applied before are dropped (exactly-once delivery).
 * 2. An effect is applied only if its invocation is `invoked` with the same attempt epoch
 *    (the conditional append); anything else is a zombie's effect and is dropped.
 * 3. Command k of an invocation is applied only when its journal holds commands 0..k-1.
 * 4. A timer fires at most once: its row is deleted when the fire is applied; a fire without a
 *    row is stale and dropped.
 * 5. Every transition to `invoked` bumps the attempt epoch and emits exactly one invoke action.
 * 6. At most one exclusive invocation per object key (or workflow run per id) holds the key's
 *    lock; the others wait in the key's inbox in arrival order, and the lock passes to the
 *    oldest when its holder completes.
 * 7. Each completion id gets at most one notification, and each signal id at most one (a
 *    second resolution of an awakeable, a second cancel, are dropped). A named signal is
 *    journaled each time one is sent, in arrival order (two of one name are two notifications,
 *    as restate-server does). What a command can be told at once (a callee's id, a lazily read
 *    state value, a promise's peek) is notified in the same record's application, right after
 *    the command.
 * 8. Messages to other partitions are written to the outbox in the same transaction as their
 *    cause; the leader ships them (actions `ship_outbox`).
 * 9. A completed invocation is kept (status `completed`, its result) for its completion
 *    retention and its journal for its journal retention, never longer than the status; a
 *    `cleanup` timer forgets it, a `journal_cleanup` timer drops a journal that goes first.
 *    Nothing of a completed invocation changes but by those timers and `purge`.
 */
import type {
  CommandEntry,
  JournalEntry,
  NotificationEntry,
  NotificationValue,
  Result,
} from "@onelog/sdk/internal";
import { CANCEL_SIGNAL_ID, VOID, parseAwakeableId } from "@onelog/sdk/internal";
import { derivedInvocationId, idempotentInvocationId, workflowRunId } from "./ids.js";
import { stateVersion } from "./state-version.js";
import type {
  AttachRequestBody,
  AttemptFailedBody,
  Caller,
  EndEffectBody,
  EntryEffectBody,
  InvocationOpBody,
  InvocationResponseBody,
  InvokeBody,
  LogRecord,
  NamedSignalBody,
  OutboxMessage,
  PatchStateBody,
  RecordHeader,
  ResolveAwakeableBody,
  RunCompletionBody,
  SuspendBody,
  TimerFiredBody,
  TimerKey,
} from "./records.js";
import {
  FAILURES_KEPT,
  InvariantError,
  type InvocationStatus,
  type JournalMeta,
  type PartitionStore,
} from "./store/store.js";

/** What the leader does after a batch commits. */
export type Action =
  /** Start an attempt of an invocation with this epoch (aborting any older attempt). */
  | { readonly type: "invoke"; readonly invocationId: string; readonly attemptEpoch: number }
  /** Command `commandIndex` of this attempt is durable and applied, at journal `position`. */
  | {
      readonly type: "ack";
      readonly invocationId: string;
      readonly attemptEpoch: number;
      readonly commandIndex: number;
      readonly position: number;
    }
  /** A notification was appended to the journal of a running attempt. */
  | {
      readonly type: "notify";
      readonly invocationId: string;
      readonly attemptEpoch: number;
      readonly entry: NotificationEntry;
      readonly position: number;
    }
  /** The invocation has a result: answer whoever waits for it in memory (ingress requests). */
  | { readonly type: "completed"; readonly invocationId: string; readonly result: Result }
  /** Arm a durable timer (its row is in the store). */
  | { readonly type: "schedule_timer"; readonly dueAt: number; readonly timer: TimerKey }
  /** Stop the running attempt, if any (suspended, paused, killed). */
  | { readonly type: "abort"; readonly invocationId: string }
  /** The outbox has new messages to ship. */
  | { readonly type: "ship_outbox" }
  /** This partition has a new leader with this epoch. */
  | { readonly type: "leader"; readonly leaderEpoch: number }
  /** A state patch was applied (`ok`) or refused (409, the key is locked): answer its request. */
  | { readonly type: "state_patched"; readonly requestId: string; readonly result: Result };

const CANCELLED: Result = { err: { code: 409, message: "Cancelled" } };
const KILLED: Result = { err: { code: 409, message: "Killed" } };
const EMPTY = new Uint8Array(0);
/** The answer to a get-output of an invocation still running. */
const VOID_RESULT = { void: true } as const;
/** A failed attempt's message is kept up to this many characters in the status's history. */
const FAILURE_MESSAGE_MAX_CHARS = 4096;

/** Applies one record to the store and returns the actions it calls for. */
export function apply(store: PartitionStore, record: LogRecord): Action[] {
  const { header, body } = record;
  if (header.leaderEpoch !== undefined && header.leaderEpoch < store.getLeaderEpoch()) return []; // 1
  if (header.dedup !== undefined) {
    const last = store.getDedup(header.dedup.producer);
    if (last !== undefined && header.dedup.seq <= last) return []; // 1
    store.setDedup(header.dedup.producer, header.dedup.seq);
  }
  const applier = new Applier(store, header);
  switch (body.type) {
    case "invoke":
      applier.invoke(record.lsn, body);
      break;
    case "entry":
      applier.entry(body);
      break;
    case "run_completion":
      applier.runCompletion(body);
      break;
    case "end":
      applier.end(body);
      break;
    case "attempt_failed":
      applier.attemptFailed(body);
      break;
    case "suspend":
      applier.suspend(body);
      break;
    case "timer_fired":
      applier.timerFired(body);
      break;
    case "announce_leader":
      applier.announceLeader(body.leaderEpoch);
      break;
    case "resume":
    case "pause":
    case "cancel":
    case "kill":
    case "purge":
      applier.operation(body);
      break;
    case "invocation_response":
      applier.invocationResponse(body);
      break;
    case "resolve_awakeable":
      applier.resolveAwakeable(body);
      break;
    case "attach_request":
      applier.attachRequest(body);
      break;
    case "named_signal":
      applier.namedSignal(body);
      break;
    case "truncate_outbox":
      store.deleteOutboxUpTo(body.upToSeq);
      break;
    case "patch_state":
      applier.patchState(body);
      break;
  }
  return applier.actions;
}

/** True for handlers that hold their key's lock while they run. */
function locks(s: Pick<InvocationStatus, "handlerKind" | "target">): boolean {
  return (s.handlerKind === "exclusive" || s.handlerKind === "workflow") && s.target.key !== undefined;
}

/** One record's application: the store, the record's header, and the actions so far. */
class Applier {
  readonly actions: Action[] = [];
  private shipped = false;
  /** Work that must follow the journaling of the command being applied. */
  private after: (() => void)[] = [];

  constructor(
    private readonly store: PartitionStore,
    private readonly header: RecordHeader,
  ) {}

  private outbox(message: OutboxMessage): void {
    this.store.pushOutbox(message);
    if (!this.shipped) {
      this.shipped = true;
      this.actions.push({ type: "ship_outbox" });
    }
  }

  /** When and by which attempt an entry is appended: history only, never replayed. */
  private meta(attempt?: number): JournalMeta {
    return attempt === undefined ? { at: this.header.at } : { at: this.header.at, attempt };
  }

  private timer(dueAt: number, timer: TimerKey): void {
    this.store.putTimer({ dueAt, key: timer });
    this.actions.push({ type: "schedule_timer", dueAt, timer });
  }

  invoke(lsn: number, b: InvokeBody): void {
    const existing = this.store.getStatus(b.invocationId);
    if (existing !== undefined) {
      // A duplicate (same idempotency key, same workflow id): no new invocation.
      if (existing.result !== undefined) {
        this.actions.push({ type: "completed", invocationId: b.invocationId, result: existing.result });
        if (b.caller !== undefined) this.respond(b.caller, existing.result);
      } else if (b.caller !== undefined) {
        this.store.putStatus({ ...existing, sinks: [...(existing.sinks ?? []), b.caller] });
      }
      return;
    }
    this.store.appendJournal(
      b.invocationId,
      0,
      { type: "input", argument: b.argument, headers: b.headers },
      this.meta(),
    );
    const status: InvocationStatus = {
      invocationId: b.invocationId,
      target: b.target,
      handlerKind: b.handlerKind,
      state: "scheduled",
      attemptEpoch: 0,
      retryCount: 0,
      journalLength: 1,
      commandCount: 1,
      retry: b.retry,
      retentionMs: b.retentionMs,
      ...(b.journalRetentionMs === undefined ? {} : { journalRetentionMs: b.journalRetentionMs }),
      ...(b.invokedBy === undefined ? {} : { invokedBy: b.invokedBy }),
      createdAt: this.header.at,
      createdLsn: lsn,
      modifiedAt: this.header.at,
      ...(b.idempotencyKey === undefined ? {} : { idempotencyKey: b.idempotencyKey }),
      ...(b.caller === undefined ? {} : { sinks: [b.caller] }),
    };
    if (b.executeAt !== undefined && b.executeAt > this.header.at) {
      this.store.putStatus(status);
      this.timer(b.executeAt, { kind: "delayed_invoke", invocationId: b.invocationId });
      return;
    }
    this.enqueue(status);
  }

  /** Starts an invocation, or queues it behind its key's lock holder (invariant 6). */
  private enqueue(s: InvocationStatus): void {
    if (locks(s)) {
      const { service } = s.target;
      const key = s.target.key!;
      const holder = this.store.getLock(service, key);
      if (holder !== undefined && holder !== s.invocationId) {
        this.store.pushInbox(service, key, s.invocationId);
        this.store.putStatus({ ...s, state: "inboxed", modifiedAt: this.header.at });
        return;
      }
      this.store.setLock(service, key, s.invocationId);
    }
    this.startAttempt(s);
  }

  /** Transition to `invoked` with a new attempt epoch (invariant 5). */
  private startAttempt(s: InvocationStatus): void {
    const { nextRetryAt: _r, waitingOn: _w, ...rest } = s;
    const next: InvocationStatus = {
      ...rest,
      state: "invoked",
      attemptEpoch: s.attemptEpoch + 1,
      modifiedAt: this.header.at,
    };
    this.store.putStatus(next);
    this.actions.push({ type: "invoke", invocationId: s.invocationId, attemptEpoch: next.attemptEpoch });
  }

  /** The status of the attempt an effect belongs to, or undefined for a zombie's effect (2). */
  private currentAttempt(id: string, epoch: number): InvocationStatus | undefined {
    const s = this.store.getStatus(id);
    if (s === undefined || s.state !== "invoked" || s.attemptEpoch !== epoch) return undefined;
    return s;
  }

  entry(b: EntryEffectBody): void {
    let s = this.currentAttempt(b.invocationId, b.attemptEpoch);
    if (s === undefined) return;
    if (b.commandIndex !== s.commandCount) {
      throw new InvariantError(
        `invocation ${b.invocationId} epoch ${b.attemptEpoch}: command ${b.commandIndex} but the journal has ${s.commandCount}`,
      ); // 3
    }
    const position = s.journalLength;
    this.command(s, b.commandIndex, b.entry);
    this.store.appendJournal(b.invocationId, position, b.entry, this.meta(b.attemptEpoch));
    s = {
      ...s,
      journalLength: position + 1,
      commandCount: s.commandCount + 1,
      modifiedAt: this.header.at,
      ...(b.pin !== undefined && s.pinnedDeployment === undefined ? { pinnedDeployment: b.pin } : {}),
    };
    this.store.putStatus(s);
    this.actions.push({
      type: "ack",
      invocationId: b.invocationId,
      attemptEpoch: b.attemptEpoch,
      commandIndex: b.commandIndex,
      position,
    });
    for (const f of this.after.splice(0)) f(); // 7
  }

  /** A step's result, proposed by the attempt that ran it: the Run command's notification. */
  runCompletion(b: RunCompletionBody): void {
    if (this.currentAttempt(b.invocationId, b.attemptEpoch) === undefined) return; // 2
    // Only a Run command's completion may be proposed by the attempt. A proposal for a call, a
    // sleep or an unknown id (a misbehaving remote SDK) is dropped, not allowed to complete
    // something the engine owns; the invoker validates what it proposes before this.
    const isRun = this.store
      .getJournal(b.invocationId)
      .some((e) => e.type === "run" && e.completionId === b.completionId);
    if (!isRun) return;
    this.completion(b.invocationId, b.completionId, b.result, b.attemptEpoch);
  }

  /**
   * Applies a command's effects on the partition; what it can be told at once is queued in
   * `after`, to be notified right after the command is journaled (invariant 7).
   */
  private command(s: InvocationStatus, commandIndex: number, e: CommandEntry): void {
    const service = s.target.service;
    const key = s.target.key ?? "";
    const id = s.invocationId;
    const writes = s.handlerKind === "exclusive" || s.handlerKind === "workflow";
    const notifyAfter = (completionId: number, value: NotificationValue) =>
      this.after.push(() => this.completion(id, completionId, value));
    switch (e.type) {
      case "input":
        throw new InvariantError(`invocation ${id}: an input entry proposed as command ${commandIndex}`);
      case "run":
        return;
      case "get_state":
        if (e.completionId !== undefined) {
          const value = this.store.getState(service, key, e.key);
          notifyAfter(e.completionId, value === undefined ? VOID : { ok: value });
        }
        return;
      case "get_state_keys":
        if (e.completionId !== undefined) {
          notifyAfter(e.completionId, { stateKeys: this.store.listState(service, key).map(([n]) => n) });
        }
        return;
      case "set_state":
        if (writes) this.store.putState(service, key, e.key, e.value);
        return;
      case "clear_state":
        if (writes) this.store.deleteState(service, key, e.key);
        return;
      case "clear_all_state":
        if (writes) this.store.clearState(service, key);
        return;
      case "sleep":
        this.timer(e.wakeUpAt, { kind: "sleep", invocationId: id, completionId: e.completionId });
        this.after.unshift(() => {
          const st = this.store.getStatus(id)!;
          this.store.putStatus({ ...st, sleeps: [...(st.sleeps ?? []), e.completionId] });
        });
        return;
      case "call":
      case "send": {
        const invocationId = derivedInvocationId(e.target, id, commandIndex, {
          idempotencyKey: e.idempotencyKey,
          workflow: e.workflow,
        });
        this.outbox({
          type: "invoke",
          fromHandler: true,
          invocationId,
          target: e.target,
          argument: e.argument,
          headers: e.headers,
          invokedBy: { invocationId: id, target: s.target },
          ...(e.idempotencyKey === undefined ? {} : { idempotencyKey: e.idempotencyKey }),
          ...(e.type === "send" && e.delayMs !== undefined ? { executeAt: this.header.at + e.delayMs } : {}),
          ...(e.type === "call" && e.resultCompletionId !== undefined
            ? { caller: { invocationId: id, completionId: e.resultCompletionId } }
            : {}),
        });
        notifyAfter(e.invocationIdCompletionId, { invocationId });
        return;
      }
      case "complete_awakeable": {
        const target = parseAwakeableId(e.awakeableId);
        if (target !== undefined) {
          this.outbox({ type: "resolve_awakeable", ...target, result: e.result });
        }
        return;
      }
      case "promise_get": {
        const row = this.store.getPromise(service, key, e.name);
        if (row?.result !== undefined) {
          notifyAfter(e.completionId, row.result);
        } else {
          const waiters = [...(row?.waiters ?? []), { invocationId: id, completionId: e.completionId }];
          this.store.putPromise(service, key, e.name, { waiters });
        }
        return;
      }
      case "promise_peek":
        notifyAfter(e.completionId, this.store.getPromise(service, key, e.name)?.result ?? VOID);
        return;
      case "promise_complete": {
        const row = this.store.getPromise(service, key, e.name);
        if (row?.result !== undefined) {
          notifyAfter(e.completionId, {
            err: { code: 409, message: `promise '${e.name}' was already completed` },
          });
          return;
        }
        this.store.putPromise(service, key, e.name, { result: e.result, waiters: [] });
        notifyAfter(e.completionId, VOID);
        // Waiters are invocations of the same workflow instance, so in this partition; they are
        // completed once this command is journaled (one of them may be this invocation).
        for (const w of row?.waiters ?? []) {
          this.after.push(() => this.completion(w.invocationId, w.completionId, e.result));
        }
        return;
      }
      case "attach":
        this.outbox({
          type: "attach_request",
          invocationId: e.invocationId,
          caller: { invocationId: id, completionId: e.completionId },
        });
        return;
      case "attach_target":
      case "get_output": {
        // The target's id is a function of what names it (ids.ts), as at the ingress's
        // attach/output paths: the request goes to the partition that owns it.
        const r = e.idempotentRequest;
        const w = e.workflowRun;
        const invocationId =
          r !== undefined
            ? idempotentInvocationId(
                { service: r.service, handler: r.handler, ...(r.key === undefined ? {} : { key: r.key }) },
                r.idempotencyKey,
              )
            : w !== undefined
              ? workflowRunId(w.workflow, w.workflowId)
              : e.invocationId;
        if (invocationId === undefined) {
          throw new InvariantError(`invocation ${id}: ${e.type} command ${commandIndex} names no target`);
        }
        this.outbox({
          type: "attach_request",
          invocationId,
          caller: { invocationId: id, completionId: e.completionId },
          ...(e.type === "get_output" ? { output: true as const } : {}),
        });
        return;
      }
      case "send_named_signal":
        this.outbox({ type: "named_signal", invocationId: e.invocationId, name: e.name, value: e.value });
        return;
      case "cancel_invocation":
        this.outbox({ type: "cancel", invocationId: e.invocationId });
        return;
    }
  }

  /**
   * Notifies completion `completionId` of an invocation in this partition (invariant 7);
   * `attempt` is the attempt that proposed it (a step's result), for history.
   */
  private completion(
    invocationId: string,
    completionId: number,
    value: NotificationValue,
    attempt?: number,
  ): void {
    this.notify(invocationId, { type: "completion", completionId, value }, attempt);
  }

  /** Notifies signal `signalId` of an invocation in this partition (invariant 7). */
  private signal(invocationId: string, signalId: number, value: NotificationValue): void {
    this.notify(invocationId, { type: "signal", signalId, value });
  }

  /**
   * Appends a notification to an invocation's journal and wakes it, once per completion id and
   * once per signal id, each named signal (invariant 7); nothing for an invocation that is gone
   * or completed.
   */
  private notify(invocationId: string, entry: NotificationEntry, attempt?: number): void {
    const s = this.store.getStatus(invocationId);
    if (s === undefined || s.state === "completed") return;
    let seenNext: Partial<Pick<InvocationStatus, "completed" | "signals">> = {};
    if (entry.type !== "named_signal") {
      const field = entry.type === "completion" ? "completed" : "signals";
      const id = entry.type === "completion" ? entry.completionId : entry.signalId;
      const seen = s[field] ?? [];
      if (seen.includes(id)) return;
      seenNext = { [field]: [...seen, id] };
    }
    const position = s.journalLength;
    this.store.appendJournal(invocationId, position, entry, this.meta(attempt));
    const next: InvocationStatus = {
      ...s,
      journalLength: position + 1,
      ...seenNext,
      modifiedAt: this.header.at,
    };
    this.store.putStatus(next);
    if (s.state === "invoked") {
      this.actions.push({ type: "notify", invocationId, attemptEpoch: s.attemptEpoch, entry, position });
    } else if (s.state === "suspended" && resumes(s, entry)) {
      this.startAttempt(next);
    }
  }

  end(b: EndEffectBody): void {
    const s = this.currentAttempt(b.invocationId, b.attemptEpoch);
    if (s === undefined) return;
    this.complete(s, b.result);
  }

  /**
   * Completes an invocation: answers its callers, passes its key's lock on, and keeps its status
   * and result for its completion retention and its journal for its journal retention
   * (invariant 9), or forgets it at once when the retention is 0.
   */
  private complete(s: InvocationStatus, result: Result): void {
    const { keepMs, keepJournalMs } = keptFor(s);
    if (keepJournalMs === 0) this.store.deleteJournal(s.invocationId);
    // Its sleeps will not be awaited any more; a later invocation with the same id must not see them.
    for (const c of s.sleeps ?? [])
      this.store.deleteTimer({ kind: "sleep", invocationId: s.invocationId, completionId: c });
    this.actions.push({ type: "completed", invocationId: s.invocationId, result });
    for (const sink of s.sinks ?? []) this.respond(sink, result);
    if (locks(s) && this.store.getLock(s.target.service, s.target.key!) === s.invocationId) {
      this.store.deleteLock(s.target.service, s.target.key!);
      const next = this.store.popInbox(s.target.service, s.target.key!);
      if (next !== undefined) {
        const n = this.store.getStatus(next);
        if (n !== undefined) this.enqueue(n);
      }
    }
    if (keepMs > 0) {
      const {
        nextRetryAt: _r,
        waitingOn: _w,
        signals: _g,
        completed: _c,
        sinks: _s,
        sleeps: _z,
        ...rest
      } = s;
      this.store.putStatus({
        ...rest,
        state: "completed",
        result,
        completedAt: this.header.at,
        modifiedAt: this.header.at,
        ...(keepJournalMs === 0 ? { journalLength: 0 } : {}),
      });
      this.timer(this.header.at + keepMs, { kind: "cleanup", invocationId: s.invocationId });
      if (keepJournalMs > 0 && keepJournalMs < keepMs) {
        this.timer(this.header.at + keepJournalMs, { kind: "journal_cleanup", invocationId: s.invocationId });
      }
    } else {
      this.store.deleteStatus(s.invocationId);
      if (s.handlerKind === "workflow") this.dropWorkflow(s);
    }
  }

  /** A caller waiting for a result: its partition gets an invocation_response. */
  private respond(caller: Caller, result: Result | typeof VOID_RESULT): void {
    this.outbox({ type: "invocation_response", ...caller, result });
  }

  private dropWorkflow(s: InvocationStatus): void {
    this.store.clearState(s.target.service, s.target.key ?? "");
    this.store.clearPromises(s.target.service, s.target.key ?? "");
  }

  attemptFailed(b: AttemptFailedBody): void {
    const s = this.currentAttempt(b.invocationId, b.attemptEpoch);
    if (s === undefined) return;
    const retryCount = s.retryCount + 1;
    const failure = {
      attempt: b.attemptEpoch,
      at: this.header.at,
      message: b.message.slice(0, FAILURE_MESSAGE_MAX_CHARS),
      ...(b.stack === undefined ? {} : { stack: b.stack }),
    };
    const failed: InvocationStatus = {
      ...s,
      retryCount,
      lastFailure: b.message,
      failures: [...(s.failures ?? []), failure].slice(-FAILURES_KEPT),
      modifiedAt: this.header.at,
    };
    const max = s.retry.maxAttempts;
    if (max !== null && retryCount >= max) {
      if (s.retry.onMaxAttempts === "kill") {
        this.complete(failed, {
          err: { code: 500, message: `killed after ${retryCount} attempts; last failure: ${b.message}` },
        });
        return;
      }
      this.store.putStatus({ ...failed, state: "paused" });
      return;
    }
    const dueAt = this.header.at + (b.retryAfterMs ?? backoffMs(s.retry, retryCount));
    this.store.putStatus({ ...failed, state: "backing-off", nextRetryAt: dueAt });
    this.timer(dueAt, { kind: "retry", invocationId: b.invocationId });
  }

  suspend(b: SuspendBody): void {
    const s = this.currentAttempt(b.invocationId, b.attemptEpoch);
    if (s === undefined) return;
    const names = b.waitingNamedSignals ?? [];
    const waitingOn = {
      completionIds: b.waitingCompletions,
      signalIds: b.waitingSignals,
      ...(names.length === 0 ? {} : { signalNames: names }),
    };
    const completed = new Set(s.completed ?? []);
    const signals = new Set(s.signals ?? []);
    if (
      waitingOn.completionIds.some((c) => completed.has(c)) ||
      waitingOn.signalIds.some((g) => signals.has(g)) ||
      (names.length > 0 && this.namedSignalSince(b.invocationId, names, b.seenJournalLength ?? 0))
    ) {
      // Something it waits for arrived before the attempt saw it: go on at once with a fresh attempt.
      this.startAttempt(s);
      return;
    }
    this.store.putStatus({ ...s, state: "suspended", waitingOn, modifiedAt: this.header.at });
    this.actions.push({ type: "abort", invocationId: b.invocationId });
  }

  /**
   * Whether a named signal of one of `names` is in the journal at or after `position`: one the
   * suspending attempt had not seen (a name can arrive any number of times, so its presence
   * alone says nothing).
   */
  private namedSignalSince(invocationId: string, names: readonly string[], position: number): boolean {
    return this.store
      .getJournal(invocationId)
      .some((e, i) => i >= position && e.type === "named_signal" && names.includes(e.name));
  }

  timerFired(b: TimerFiredBody): void {
    if (!this.store.deleteTimer(b.timer)) return; // 4
    const s = this.store.getStatus(b.timer.invocationId);
    if (s === undefined) return;
    switch (b.timer.kind) {
      case "retry":
        if (s.state === "backing-off") this.startAttempt(s);
        return;
      case "delayed_invoke":
        if (s.state === "scheduled") this.enqueue(s);
        return;
      case "sleep": {
        const left = (s.sleeps ?? []).filter((c) => c !== b.timer.completionId);
        this.store.putStatus(left.length === 0 ? withoutSleeps(s) : { ...s, sleeps: left });
        this.completion(s.invocationId, b.timer.completionId ?? -1, VOID);
        return;
      }
      case "cleanup":
        if (s.state === "completed") this.purge(s);
        return;
      case "journal_cleanup":
        if (s.state === "completed") {
          this.store.deleteJournal(s.invocationId);
          this.store.putStatus({ ...s, journalLength: 0 });
        }
        return;
    }
  }

  /** Forgets a completed invocation: its status, its journal and their timers. */
  private purge(s: InvocationStatus): void {
    this.store.deleteTimer({ kind: "journal_cleanup", invocationId: s.invocationId });
    this.store.deleteStatus(s.invocationId);
    this.store.deleteJournal(s.invocationId);
    if (s.handlerKind === "workflow") this.dropWorkflow(s);
  }

  announceLeader(epoch: number): void {
    if (epoch <= this.store.getLeaderEpoch()) return;
    this.store.setLeaderEpoch(epoch);
    // Attempts of the old leader are gone or zombies: every invoked invocation starts anew.
    this.actions.push({ type: "leader", leaderEpoch: epoch });
    for (const id of this.store.listInvoked()) {
      const s = this.store.getStatus(id);
      if (s !== undefined) this.startAttempt(s);
    }
  }

  operation(b: InvocationOpBody): void {
    const s = this.store.getStatus(b.invocationId);
    if (s === undefined) return;
    switch (b.type) {
      case "resume":
        if (s.state === "paused") this.startAttempt({ ...s, retryCount: 0 });
        return;
      case "pause":
        if (s.state === "invoked" || s.state === "backing-off" || s.state === "suspended") {
          this.store.deleteTimer({ kind: "retry", invocationId: s.invocationId });
          this.store.putStatus({ ...s, state: "paused", modifiedAt: this.header.at });
          this.actions.push({ type: "abort", invocationId: s.invocationId });
        }
        return;
      case "purge":
        if (s.state === "completed") {
          this.store.deleteTimer({ kind: "cleanup", invocationId: s.invocationId });
          this.purge(s);
        }
        return;
      case "cancel":
        this.cancel(s);
        return;
      case "kill":
        this.kill(s);
        return;
    }
  }

  /** Cancel: the handler sees CancelledError at its next await; children calls are cancelled too. */
  private cancel(s: InvocationStatus): void {
    switch (s.state) {
      case "completed":
        return;
      case "scheduled":
      case "inboxed":
        this.dequeue(s);
        this.complete(s, CANCELLED);
        return;
      default:
        for (const child of this.childCalls(s)) this.outbox({ type: "cancel", invocationId: child });
        this.signal(s.invocationId, CANCEL_SIGNAL_ID, VOID);
        if (s.state === "backing-off" || s.state === "paused") {
          this.store.deleteTimer({ kind: "retry", invocationId: s.invocationId });
          this.startAttempt(this.store.getStatus(s.invocationId)!);
        }
    }
  }

  /** Kill: completes at once with "Killed", no compensation runs; children calls are killed too. */
  private kill(s: InvocationStatus): void {
    if (s.state === "completed") return;
    this.dequeue(s);
    for (const child of this.childCalls(s)) this.outbox({ type: "kill", invocationId: child });
    this.actions.push({ type: "abort", invocationId: s.invocationId });
    this.complete(s, KILLED);
  }

  /** Takes a not-yet-running invocation out of its timer or inbox. */
  private dequeue(s: InvocationStatus): void {
    if (s.state === "scheduled")
      this.store.deleteTimer({ kind: "delayed_invoke", invocationId: s.invocationId });
    if (s.state === "inboxed")
      this.store.removeFromInbox(s.target.service, s.target.key ?? "", s.invocationId);
    this.store.deleteTimer({ kind: "retry", invocationId: s.invocationId });
  }

  /** Ids of the calls this invocation made that have no result yet. */
  private childCalls(s: InvocationStatus): string[] {
    const journal: JournalEntry[] = this.store.getJournal(s.invocationId);
    const done = new Set(s.completed ?? []);
    const ids = new Map<number, string>();
    for (const e of journal) {
      if (e.type === "completion" && "invocationId" in e.value) ids.set(e.completionId, e.value.invocationId);
    }
    const out: string[] = [];
    for (const e of journal) {
      if (e.type !== "call" || e.resultCompletionId === undefined || done.has(e.resultCompletionId)) continue;
      const id = ids.get(e.invocationIdCompletionId);
      if (id !== undefined) out.push(id);
    }
    return out;
  }

  invocationResponse(b: InvocationResponseBody): void {
    this.completion(b.invocationId, b.completionId, b.result);
  }

  resolveAwakeable(b: ResolveAwakeableBody): void {
    this.signal(b.invocationId, b.signalId, b.result);
  }

  /**
   * An operator's change to a key's state. Refused while an invocation holds the key's lock
   * (invariant 6): that handler read the state when its attempt started and may write it back;
   * and, with an expected version, when the state is no longer the one the operator read.
   */
  patchState(b: PatchStateBody): void {
    const holder = this.store.getLock(b.service, b.key);
    if (holder !== undefined) {
      const message = `${b.service}/${b.key} is locked by invocation ${holder}; patch its state once that invocation is done`;
      this.actions.push({
        type: "state_patched",
        requestId: b.requestId,
        result: { err: { code: 409, message } },
      });
      return;
    }
    if (b.expectedVersion !== undefined) {
      const version = stateVersion(this.store.listState(b.service, b.key));
      if (version !== b.expectedVersion) {
        const message = `the state of ${b.service}/${b.key} changed since it was read: it has version ${version}, the patch was made against ${b.expectedVersion}; read it again`;
        this.actions.push({
          type: "state_patched",
          requestId: b.requestId,
          result: { err: { code: 412, message } },
        });
        return;
      }
    }
    for (const c of b.changes) {
      if (c.value === null) this.store.deleteState(b.service, b.key, c.name);
      else this.store.putState(b.service, b.key, c.name, c.value);
    }
    this.actions.push({ type: "state_patched", requestId: b.requestId, result: { ok: EMPTY } });
  }

  /**
   * Answers an attach (waits for the result) or a get-output (answers at once: void while the
   * invocation runs), as restate-server does: 404 for an invocation it does not know.
   */
  attachRequest(b: AttachRequestBody): void {
    const s = this.store.getStatus(b.invocationId);
    if (s === undefined) {
      this.respond(b.caller, { err: { code: 404, message: `invocation ${b.invocationId} not found` } });
    } else if (s.result !== undefined) {
      this.respond(b.caller, s.result);
    } else if (b.output === true) {
      this.respond(b.caller, VOID_RESULT);
    } else {
      this.store.putStatus({ ...s, sinks: [...(s.sinks ?? []), b.caller] });
    }
  }

  /** A named signal: once per name, like any signal (invariant 7); dropped for an invocation that is gone. */
  namedSignal(b: NamedSignalBody): void {
    this.notify(b.invocationId, { type: "named_signal", name: b.name, value: b.value });
  }
}

/**
 * How long a completing invocation is kept (invariant 9). An invocation created by a record
 * written before onelog kept history (no journal retention in it) keeps the old rule: only an
 * idempotent invocation or a workflow run is kept, and never its journal.
 */
function keptFor(s: InvocationStatus): { keepMs: number; keepJournalMs: number } {
  if (s.journalRetentionMs === undefined) {
    const kept = s.idempotencyKey !== undefined || s.handlerKind === "workflow";
    return { keepMs: kept ? Math.max(0, s.retentionMs) : 0, keepJournalMs: 0 };
  }
  const keepMs = Math.max(0, s.retentionMs);
  return { keepMs, keepJournalMs: Math.max(0, Math.min(s.journalRetentionMs, keepMs)) };
}

/** Whether a notification wakes a suspended invocation. */
function resumes(s: InvocationStatus, entry: NotificationEntry): boolean {
  if (entry.type === "completion") return s.waitingOn?.completionIds.includes(entry.completionId) ?? false;
  if (entry.type === "named_signal") return s.waitingOn?.signalNames?.includes(entry.name) ?? false;
  return entry.signalId === CANCEL_SIGNAL_ID || (s.waitingOn?.signalIds.includes(entry.signalId) ?? false);
}

function withoutSleeps(s: InvocationStatus): InvocationStatus {
  const { sleeps: _z, ...rest } = s;
  return rest;
}

/** The wait before retry number `retryCount` (1-based), by the invocation's policy. */
export function backoffMs(policy: InvocationStatus["retry"], retryCount: number): number {
  const raw = policy.initialIntervalMs * Math.pow(policy.factor, retryCount - 1);
  return Math.min(Math.round(raw), policy.maxIntervalMs);
}
