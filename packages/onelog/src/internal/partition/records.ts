/**
 * Log records: a header and a typed body. Every effect in onelog is one of these, appended to
 * one partition's log and applied by that partition's processor (docs/architecture.md).
 *
 * The log sees a record as a payload (bytes) plus a small header (leader epoch, dedup): the
 * codec in codec.ts does that split. The LSN is not in the payload: it is the record's position
 * in the log, assigned by the log.
 */
import type { CommandEntry, Result } from "@onelog/sdk/internal";

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

/** How the target handler runs; decides locking (exclusive and workflow take the key's lock). */
export type HandlerKind = "service" | "exclusive" | "shared" | "workflow";

/** Who waits for an invocation's result durably: completion `completionId` of another invocation. */
export interface Caller {
  readonly invocationId: string;
  readonly completionId: number;
}

/** A new invocation, from the ingress or from another invocation (through the outbox). */
export interface InvokeBody {
  readonly type: "invoke";
  readonly invocationId: string;
  readonly target: Target;
  readonly handlerKind: HandlerKind;
  readonly argument: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly idempotencyKey?: string;
  /** Run no earlier than this time (a delayed send). */
  readonly executeAt?: number;
  readonly retry: RetryPolicy;
  /**
   * Its completion retention: how long its status and result are kept once it completes, for
   * duplicates, attach/output and history (0: forgotten at completion). See retention.ts.
   */
  readonly retentionMs: number;
  /**
   * How long its journal is kept once it completes (at most `retentionMs`). Absent in records
   * written before onelog kept history: those keep only idempotent invocations and workflow
   * runs, without their journal (apply.ts, `complete`).
   */
  readonly journalRetentionMs?: number;
  /** The invocation whose call this is; it gets the result as a completion. */
  readonly caller?: Caller;
  /** The invocation whose call or send made this one (history: "invoked by"). */
  readonly invokedBy?: InvokedBy;
}

/** Which invocation made another one by a call or a send, and its target. */
export interface InvokedBy {
  readonly invocationId: string;
  readonly target: Target;
}

/** A command from an attempt, carrying the attempt's epoch (the conditional append). */
export interface EntryEffectBody {
  readonly type: "entry";
  readonly invocationId: string;
  readonly attemptEpoch: number;
  readonly commandIndex: number;
  readonly entry: CommandEntry;
  /**
   * Server mode: the deployment (and protocol version) the attempt runs on, sent with commands
   * until the invocation is pinned: from its first command on, every attempt goes there.
   */
  readonly pin?: PinnedDeployment;
}

/** The deployment an invocation's journal was made with (server mode). */
export interface PinnedDeployment {
  readonly deploymentId: string;
  readonly protocolVersion: number;
}

/**
 * The result of a step, proposed by the attempt that ran it (the protocol's ProposeRunCompletion):
 * apply appends it as the notification of the Run command's completion id.
 */
export interface RunCompletionBody {
  readonly type: "run_completion";
  readonly invocationId: string;
  readonly attemptEpoch: number;
  readonly completionId: number;
  readonly result: Result;
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
  /** The error's stack, for the invocation's failure history (never journaled, never replayed). */
  readonly stack?: string;
}

/**
 * An attempt waits only for these completions and signals: stop it, re-invoke when one of them
 * (or the cancel signal) is notified. If one already was, it is re-invoked at once instead.
 */
export interface SuspendBody {
  readonly type: "suspend";
  readonly invocationId: string;
  readonly attemptEpoch: number;
  readonly waitingCompletions: readonly number[];
  readonly waitingSignals: readonly number[];
  /** Named signals it waits for (`ctx.signal(name)`). */
  readonly waitingNamedSignals?: readonly string[];
  /**
   * Journal entries the attempt is known to have seen: a named signal it waits for at or after
   * this position resumes it at once (absent: 0, any in the journal does). In process, what the
   * SDK delivered; over the service protocol, the journal sent with Start.
   */
  readonly seenJournalLength?: number;
}

/**
 * What a durable timer does when it fires: `cleanup` forgets a completed invocation at the end of
 * its completion retention, `journal_cleanup` drops its journal at the end of a shorter journal
 * retention.
 */
export type TimerKind = "retry" | "delayed_invoke" | "cleanup" | "journal_cleanup" | "sleep";

/** A timer is identified by its kind, invocation and (sleeps) completion id. */
export interface TimerKey {
  readonly kind: TimerKind;
  readonly invocationId: string;
  readonly completionId?: number;
}

export interface TimerFiredBody {
  readonly type: "timer_fired";
  readonly timer: TimerKey;
}

/**
 * A new leader's first record: apply drops later records proposed by an older leader. The epoch
 * and node come from a `Leadership` grant (leadership.ts), never from the store.
 */
export interface AnnounceLeaderBody {
  readonly type: "announce_leader";
  readonly leaderEpoch: number;
  /** The node the grant went to (the processor always sets it; apply decides by epoch alone). */
  readonly node?: string;
}

/** Operator and handler requests on an invocation. */
export interface InvocationOpBody {
  readonly type: "resume" | "pause" | "cancel" | "kill" | "purge";
  readonly invocationId: string;
}

/**
 * A call's result (or an attached invocation's): the notification of `completionId`. Void
 * answers a get-output of an invocation that has not completed yet.
 */
export interface InvocationResponseBody {
  readonly type: "invocation_response";
  readonly invocationId: string;
  readonly completionId: number;
  readonly result: Result | { readonly void: true };
}

/** An awakeable was resolved or rejected: the notification of signal `signalId`. */
export interface ResolveAwakeableBody {
  readonly type: "resolve_awakeable";
  readonly invocationId: string;
  readonly signalId: number;
  readonly result: Result;
}

/**
 * `caller` wants the result of `invocationId`: `ctx.attach` waits for it; with `output` (a
 * remote SDK's GetInvocationOutput) the answer comes at once, void while it runs.
 */
export interface AttachRequestBody {
  readonly type: "attach_request";
  readonly invocationId: string;
  readonly caller: Caller;
  readonly output?: true;
}

/** Named signal `name` for an invocation (a remote SDK's SendSignal by name). */
export interface NamedSignalBody {
  readonly type: "named_signal";
  readonly invocationId: string;
  readonly name: string;
  readonly value: Result | { readonly void: true };
}

/** The leader shipped the outbox up to `upToSeq`: those rows can go. */
export interface TruncateOutboxBody {
  readonly type: "truncate_outbox";
  readonly upToSeq: number;
}

/**
 * An operator's change to one object key's or workflow's state (admin `PATCH /state`). Apply
 * writes it only while no invocation holds the key's lock, and answers `requestId` either way.
 */
export interface PatchStateBody {
  readonly type: "patch_state";
  /** Names the admin request waiting for the answer (a `state_patched` action). */
  readonly requestId: string;
  readonly service: string;
  readonly key: string;
  /** Each name gets its value; `null` deletes the name. */
  readonly changes: readonly { readonly name: string; readonly value: Uint8Array | null }[];
  /** Apply only if the key's state still has this version (state-version.ts), else answer 412. */
  readonly expectedVersion?: string;
}

export type RecordBody =
  | InvokeBody
  | EntryEffectBody
  | RunCompletionBody
  | EndEffectBody
  | AttemptFailedBody
  | SuspendBody
  | TimerFiredBody
  | AnnounceLeaderBody
  | InvocationOpBody
  | InvocationResponseBody
  | ResolveAwakeableBody
  | AttachRequestBody
  | NamedSignalBody
  | TruncateOutboxBody
  | PatchStateBody;

/**
 * A message for another partition, written by apply in the same transaction as its cause and
 * shipped by the leader. Invokes from handlers lack what only the registry knows (handler kind,
 * retry policy, retention); the shipper adds it.
 */
export type OutboxMessage =
  | (Omit<InvokeBody, "handlerKind" | "retry" | "retentionMs" | "journalRetentionMs"> & {
      readonly fromHandler: true;
    })
  | InvocationResponseBody
  | ResolveAwakeableBody
  | AttachRequestBody
  | NamedSignalBody
  | InvocationOpBody;

/** A record as proposed: header and body, without the LSN. */
export interface ProposedRecord {
  readonly header: RecordHeader;
  readonly body: RecordBody;
}

/** A record as read back from the log: with the LSN the log gave it. */
export interface LogRecord extends ProposedRecord {
  readonly lsn: number;
}
