/**
 * The partition store: the tables one partition's processor materializes from its log
 * (DESIGN.md §2.4). Only the processor writes it, inside `transaction`; readers (the invoker,
 * the ingress) only read. Methods are synchronous: apply is a pure function over them.
 */
import type { JournalEntry, Result } from "@onelog/sdk/internal";
import type { RetryPolicy, Target, TimerKey } from "../records.js";

/** Where an invocation is in its life. */
export type InvocationState = "scheduled" | "invoked" | "backing-off" | "paused" | "completed";

/** One row of the invocation status table. */
export interface InvocationStatus {
  readonly invocationId: string;
  readonly target: Target;
  readonly state: InvocationState;
  /** Bumped for every attempt; effects carrying another epoch are dropped. */
  readonly attemptEpoch: number;
  /** Failed attempts since the invocation started (or was resumed). */
  readonly retryCount: number;
  /** Entries in the journal, the input included. */
  readonly journalLength: number;
  readonly idempotencyKey?: string;
  readonly retry: RetryPolicy;
  readonly retentionMs: number;
  readonly createdAt: number;
  /** The LSN of the Invoke record that created it (tells a duplicate's Invoke from the first). */
  readonly createdLsn: number;
  readonly modifiedAt: number;
  readonly lastFailure?: string;
  readonly nextRetryAt?: number;
  readonly result?: Result;
  readonly completedAt?: number;
}

/** A durable timer row. */
export interface TimerRow {
  readonly dueAt: number;
  readonly key: TimerKey;
}

export interface PartitionStore {
  readonly partition: number;
  /** Runs `fn` in one transaction: all its writes commit together, or none do. */
  transaction<T>(fn: () => T): T;

  getStatus(invocationId: string): InvocationStatus | undefined;
  putStatus(status: InvocationStatus): void;
  deleteStatus(invocationId: string): void;
  /** Ids of invocations in state `invoked`, oldest first. */
  listInvoked(): string[];

  getJournal(invocationId: string): JournalEntry[];
  appendJournal(invocationId: string, index: number, entry: JournalEntry): void;
  deleteJournal(invocationId: string): void;

  putTimer(row: TimerRow): void;
  /** Deletes a timer; false when there was none (a stale or duplicate fire). */
  deleteTimer(key: TimerKey): boolean;
  /** Timers due at or before `untilMs`, earliest first, at most `limit`. */
  listTimers(untilMs: number, limit: number): TimerRow[];

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
