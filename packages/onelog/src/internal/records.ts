/**
 * Log records: a header and a typed body. Every effect in onelog is one of these, appended to
 * one partition's log and applied by that partition's processor (DESIGN.md §2).
 *
 * Encoding: msgpack (msgpackr) maps, see {@link encodeRecord}. The LSN is not
 * in the encoded bytes: it is the record's position in the log, assigned by the log.
 */
import { Packr } from "msgpackr";
import type { JournalEntry, Result } from "@onelog/sdk/internal";

/** Where an invocation goes: a service and handler, and the key for objects and workflows. */
export interface Target {
  readonly service: string;
  readonly handler: string;
  readonly key?: string;
}

/** The retry policy of an invocation, resolved from its handler and service options at ingress. */
export interface RetryPolicy {
  readonly initialIntervalMs: number;
  readonly factor: number;
  readonly maxIntervalMs: number;
  /** Attempts in all, the first included; `null` retries forever. */
  readonly maxAttempts: number | null;
  /** What happens when the attempts are used up. */
  readonly onMaxAttempts: "pause" | "kill";
}

/** Dedup info: a producer (an ingress node, another partition's outbox) and its sequence number. */
export interface Dedup {
  readonly producer: string;
  readonly seq: number;
}

/** Proposer metadata of a record, set before the append. */
export interface RecordHeader {
  /** Wall-clock ms at the proposer when the record was made: apply's only source of time. */
  readonly at: number;
  /** The leader epoch of the proposer, for records proposed by a partition leader. */
  readonly leaderEpoch?: number;
  readonly dedup?: Dedup;
}

/** A new invocation, from the ingress (or, later, from another invocation's outbox). */
export interface InvokeBody {
  readonly type: "invoke";
  readonly invocationId: string;
  readonly target: Target;
  readonly argument: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly idempotencyKey?: string;
  /** Run no earlier than this time (a delayed send). */
  readonly executeAt?: number;
  readonly retry: RetryPolicy;
  /** How long a completed invocation's status and output are kept (idempotency retention). */
  readonly retentionMs: number;
}

/** A journal entry from an attempt, carrying the attempt's epoch (the conditional append). */
export interface EntryEffectBody {
  readonly type: "entry";
  readonly invocationId: string;
  readonly attemptEpoch: number;
  readonly index: number;
  readonly entry: JournalEntry;
}

/** An attempt ended the invocation with an output or a terminal failure. */
export interface EndEffectBody {
  readonly type: "end";
  readonly invocationId: string;
  readonly attemptEpoch: number;
  readonly result: Result;
}

/** An attempt failed with a retryable error. */
export interface AttemptFailedBody {
  readonly type: "attempt_failed";
  readonly invocationId: string;
  readonly attemptEpoch: number;
  readonly message: string;
  /** A `RetryableError.retryAfter`, overriding the policy's interval once. */
  readonly retryAfterMs?: number;
}

/** What a durable timer does when it fires. */
export type TimerKind = "retry" | "delayed_invoke" | "cleanup";

/** A timer is identified by its kind and invocation; at most one of each exists at a time. */
export interface TimerKey {
  readonly kind: TimerKind;
  readonly invocationId: string;
}

export interface TimerFiredBody {
  readonly type: "timer_fired";
  readonly timer: TimerKey;
}

/** A new leader's first record: apply drops later records proposed by an older leader. */
export interface AnnounceLeaderBody {
  readonly type: "announce_leader";
  readonly leaderEpoch: number;
}

/** Operator actions on an invocation. */
export interface ResumeBody {
  readonly type: "resume";
  readonly invocationId: string;
}

export type RecordBody =
  | InvokeBody
  | EntryEffectBody
  | EndEffectBody
  | AttemptFailedBody
  | TimerFiredBody
  | AnnounceLeaderBody
  | ResumeBody;

/** A record as proposed: header and body, without the LSN. */
export interface ProposedRecord {
  readonly header: RecordHeader;
  readonly body: RecordBody;
}

/** A record as read back from the log: with the LSN the log gave it. */
export interface LogRecord extends ProposedRecord {
  readonly lsn: number;
}

// Records are msgpack maps with record structures off, so the bytes are self-describing and
// stable across processes and versions. Measured (docs/architecture.md): an invoke of a small
// JSON argument with a few headers is ~340 bytes, an entry effect ~200, an end ~160; field
// names are about half of that. A positional encoding would halve it (see docs/benchmarks.md).
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });

/** Encodes a proposed record (header + body) into bytes for the log. */
export function encodeRecord(record: ProposedRecord): Uint8Array {
  return packr.pack(record);
}

/** Decodes bytes written by {@link encodeRecord}. */
export function decodeRecord(bytes: Uint8Array): ProposedRecord {
  return packr.unpack(bytes) as ProposedRecord;
}
