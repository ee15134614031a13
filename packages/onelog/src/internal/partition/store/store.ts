/**
 * The partition store: the tables one partition's processor materializes from its log
 * (docs/architecture.md). Only the processor writes it, inside `transaction`; readers (the invoker,
 * the ingress) only read. Methods are synchronous: apply is a pure function over them, except
 * {@link PartitionStore.snapshot}, which a cluster ships elsewhere.
 */
import type { JournalEntry, Result } from "@onelog/sdk/internal";
import type {
  Caller,
  HandlerKind,
  InvokedBy,
  OutboxMessage,
  PinnedDeployment,
  RetryPolicy,
  Target,
  TimerKey,
} from "../records.js";

/** Where an invocation is in its life, in the order of a typical life. */
export const INVOCATION_STATES = [
  "scheduled",
  "inboxed",
  "invoked",
  "suspended",
  "backing-off",
  "paused",
  "completed",
] as const;

/** Where an invocation is in its life. */
export type InvocationState = (typeof INVOCATION_STATES)[number];

/** One row of the invocation status table. */
export interface InvocationStatus {
  readonly invocationId: string;
  readonly target: Target;
  readonly handlerKind: HandlerKind;
  readonly state: InvocationState;
  /** Bumped for every attempt; effects carrying another epoch are dropped. */
  readonly attemptEpoch: number;
  /** Failed attempts since the invocation started (or was resumed). */
  readonly retryCount: number;
  /** Entries in the journal, the input included. */
  readonly journalLength: number;
  /** Commands in the journal, the input included. */
  readonly commandCount: number;
  /** Completion ids that have a notification in the journal (so a second one is dropped). */
  readonly completed?: readonly number[];
  /** Signal ids that have a notification in the journal (an awakeable resolves once). */
  readonly signals?: readonly number[];
  /** Completion ids of sleeps whose timer has not fired (deleted with the invocation). */
  readonly sleeps?: readonly number[];
  /** When suspended: the completions and signals that resume it (the cancel signal always does). */
  readonly waitingOn?: {
    readonly completionIds: readonly number[];
    readonly signalIds: readonly number[];
    readonly signalNames?: readonly string[];
  };
  /** Invocations waiting for this one's result (callers, attachers). */
  readonly sinks?: readonly Caller[];
  readonly idempotencyKey?: string;
  readonly retry: RetryPolicy;
  /** Completion retention: how long the status and result are kept once completed. */
  readonly retentionMs: number;
  /** How long the journal is kept once completed; absent for invocations from before history (none). */
  readonly journalRetentionMs?: number;
  /** The invocation whose call or send made this one; absent for the ingress. */
  readonly invokedBy?: InvokedBy;
  /** The last failed attempts, oldest first (at most {@link FAILURES_KEPT}). */
  readonly failures?: readonly AttemptFailure[];
  readonly createdAt: number;
  /** The LSN of the Invoke record that created it (tells a duplicate's Invoke from the first). */
  readonly createdLsn: number;
  readonly modifiedAt: number;
  readonly lastFailure?: string;
  /** Server mode: the deployment its journal was made with; every later attempt goes there. */
  readonly pinnedDeployment?: PinnedDeployment;
  readonly nextRetryAt?: number;
  readonly result?: Result;
  readonly completedAt?: number;
}

/** Failed attempts an invocation keeps, for history; older ones are dropped. */
export const FAILURES_KEPT = 10;

/** One failed attempt, as the invocation's status keeps it. */
export interface AttemptFailure {
  /** The attempt's epoch (1 for the first attempt). */
  readonly attempt: number;
  /** When the failure was applied (its record's time). */
  readonly at: number;
  readonly message: string;
  /** The error's stack, when the attempt's handler threw one. */
  readonly stack?: string;
}

/** When a journal entry was applied and which attempt proposed it (history; not replayed). */
export interface JournalMeta {
  /** The time of the record that appended it. */
  readonly at: number;
  /** The attempt epoch of a command or a proposed step result; absent for notifications from the engine. */
  readonly attempt?: number;
}

/** A workflow's durable promise. */
export interface PromiseRow {
  readonly result?: Result;
  readonly waiters: readonly Caller[];
}

/** A durable timer row. */
export interface TimerRow {
  readonly dueAt: number;
  readonly key: TimerKey;
}

/**
 * One partition's tables at one applied LSN, as bytes: what a new leader restores before it
 * replays the log's tail from `appliedLsn + 1`. The log may be trimmed up to the `appliedLsn` of
 * the oldest snapshot still needed (embedded: the store file itself, after a checkpoint).
 */
export interface PartitionSnapshot {
  readonly partition: number;
  /** Every record up to this LSN is in the snapshot, none after it. */
  readonly appliedLsn: number;
  /** The store format the bytes are in (STORE_FORMAT when written); a restore checks it. */
  readonly format: number;
  /** The implementation's own encoding (SQLite: a database file; memory: msgpack). */
  readonly bytes: Uint8Array;
}

export interface PartitionStore {
  readonly partition: number;
  /**
   * A snapshot of this partition's committed tables and applied LSN (never a transaction in
   * progress: it throws inside one). The implementation's `restore` gives back a store with the
   * same rows and applied LSN. Rejects if the tables cannot be read.
   */
  snapshot(): Promise<PartitionSnapshot>;
  /** Runs `fn` in one transaction: all its writes commit together, or none do. */
  transaction<T>(fn: () => T): T;

  getStatus(invocationId: string): InvocationStatus | undefined;
  putStatus(status: InvocationStatus): void;
  deleteStatus(invocationId: string): void;
  /** Ids of invocations in state `invoked`, oldest first. */
  listInvoked(): string[];

  getJournal(invocationId: string): JournalEntry[];
  /** When each entry of a journal was appended and by which attempt (undefined: not known, older rows). */
  getJournalMeta(invocationId: string): (JournalMeta | undefined)[];
  appendJournal(invocationId: string, index: number, entry: JournalEntry, meta: JournalMeta): void;
  deleteJournal(invocationId: string): void;

  putTimer(row: TimerRow): void;
  /** Deletes a timer; false when there was none (a stale or duplicate fire). */
  deleteTimer(key: TimerKey): boolean;
  /** Timers due at or before `untilMs`, earliest first, at most `limit`. */
  listTimers(untilMs: number, limit: number): TimerRow[];

  /** The state of one object key or workflow instance. */
  getState(service: string, key: string, name: string): Uint8Array | undefined;
  putState(service: string, key: string, name: string, value: Uint8Array): void;
  deleteState(service: string, key: string, name: string): void;
  /** Every entry of a key's state, by name. */
  listState(service: string, key: string): [string, Uint8Array][];
  clearState(service: string, key: string): void;

  /** The invocation holding a key's lock (running an exclusive handler), if any. */
  getLock(service: string, key: string): string | undefined;
  setLock(service: string, key: string, invocationId: string): void;
  deleteLock(service: string, key: string): void;
  /** Appends to a key's inbox (FIFO of exclusive invocations waiting for the lock). */
  pushInbox(service: string, key: string, invocationId: string): void;
  /** Removes and returns the oldest invocation in a key's inbox. */
  popInbox(service: string, key: string): string | undefined;
  /** Removes one invocation from a key's inbox (cancelled or killed while waiting). */
  removeFromInbox(service: string, key: string, invocationId: string): void;

  /** Adds a message to the outbox; returns its sequence number. */
  pushOutbox(message: OutboxMessage): number;
  /** Messages with seq > afterSeq, oldest first, at most `limit`. */
  listOutbox(afterSeq: number, limit: number): { seq: number; message: OutboxMessage }[];
  deleteOutboxUpTo(seq: number): void;

  /** The highest sequence applied from a producer (dedup of shipped messages). */
  getDedup(producer: string): number | undefined;
  setDedup(producer: string, seq: number): void;

  getPromise(service: string, key: string, name: string): PromiseRow | undefined;
  putPromise(service: string, key: string, name: string, row: PromiseRow): void;
  clearPromises(service: string, key: string): void;

  getAppliedLsn(): number;
  setAppliedLsn(lsn: number): void;
  getLeaderEpoch(): number;
  setLeaderEpoch(epoch: number): void;
}

/** A broken invariant of the store or of apply: the partition stops; replaying the log recovers. */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvariantError";
  }
}
