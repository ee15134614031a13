/**
 * The Invoker seam (docs/architecture.md): how a partition's leader runs attempts of invocations,
 * whatever the transport. The processor depends on this interface only; the in-process invoker
 * (handlers in this process, direct calls into the SDK's state machine) is one implementation,
 * and an HTTP invoker speaking the Restate service protocol to remote deployments is another.
 *
 * The contract, for every implementation:
 * 1. `invoke(id, epoch)` starts attempt `epoch` with the journal and state it reads from the
 *    store through its host, aborting any older attempt of that invocation.
 * 2. Everything an attempt does reaches the partition only as records appended through
 *    `host.propose`, each carrying the attempt's epoch: commands (`entry`), proposed step results
 *    (`run_completion`), and exactly one outcome (`end`, `attempt_failed` or `suspend`), unless
 *    the attempt is aborted first.
 * 3. `ack` and `notify` carry journal positions; an implementation may receive them late or out of
 *    order and must hand them to the attempt in position order. Calls for another epoch are
 *    ignored (they belong to an older attempt).
 * 4. After `abort(id)` (or `stop()`) the aborted attempt proposes nothing more.
 */
import type { NotificationEntry } from "@onelog/sdk/internal";
import type { Clock } from "../clock.js";
import type { Logger } from "../ops/logger.js";
import type { RecordBody } from "../partition/records.js";
import type { PartitionStore } from "../partition/store/store.js";

/** Runs attempts for one partition's leader. */
export interface Invoker {
  /** Attempts running now (for stats and metrics). */
  readonly running: number;
  /** Starts attempt `attemptEpoch` of an invocation (1). */
  invoke(invocationId: string, attemptEpoch: number): void;
  /** Command `commandIndex` of this attempt was applied at journal `position` (3). */
  ack(invocationId: string, attemptEpoch: number, commandIndex: number, position: number): void;
  /** A notification was appended at journal `position` of this attempt's invocation (3). */
  notify(invocationId: string, attemptEpoch: number, entry: NotificationEntry, position: number): void;
  /** Aborts the running attempt of an invocation, if any (4). */
  abort(invocationId: string): void;
  /** Aborts every attempt: shutdown, or leadership lost (4). */
  stop(): void;
}

/** What an invoker gets from the partition it serves. */
export interface InvokerHost {
  readonly partition: number;
  /** Reads statuses, journals and state; never writes. */
  readonly store: PartitionStore;
  /** Appends a leader-proposed record to this partition's log; resolves once durable. */
  readonly propose: (body: RecordBody) => Promise<unknown>;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** Makes the invoker of one partition (the engine is given one factory for all partitions). */
export type InvokerFactory = (host: InvokerHost) => Invoker;
