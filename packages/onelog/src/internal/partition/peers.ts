/**
 * Requests addressed to a partition's leader, wherever it runs (cluster mode, docs/cluster.md).
 * A cluster node builds a processor only for the partitions it leads; what needs a partition's
 * store or its processor (a call waiting for its result, an idempotent send, attach, a status
 * read, an operator request) goes to the node that leads it, and the answer comes back the same
 * way. `@onelog/nats` carries them as NATS requests on one subject per partition, which only the
 * partition's leader subscribes to.
 *
 * Invariants:
 * 1. Only a node whose processor leads the partition serves its requests: it starts serving
 *    after its AnnounceLeader was applied and stops when it is deposed. A request that reaches a
 *    node while it hands over is answered "retry", never with a stale read.
 * 2. Every request can be sent again, with the same request id: a leader joins a repeat to the
 *    request it is still answering, or answers it as it did (engine.ts), and the operations
 *    behind them are idempotent per invocation id, so a sender that heard nothing may ask again,
 *    of whichever node leads then. A sender says when an earlier try may have reached a leader
 *    ({@link PeerUnavailableError.maybeDelivered}), so that one that does not know the request
 *    can tell a first request from a repeat.
 */

/** Nobody serves the partition now (no leader, or it is moving); the sender may try again. */
export class PeerUnavailableError extends Error {
  /**
   * `maybeDelivered`: false when the request reached no node (nobody serves the partition);
   * true when it may have been served and its answer was lost (no answer in time).
   */
  constructor(
    readonly partition: number,
    message: string,
    readonly maybeDelivered = true,
  ) {
    super(message);
    this.name = "PeerUnavailableError";
  }
}

/** The transport of partition requests between the nodes of a cluster. */
export interface PartitionPeers {
  /**
   * Sends `body` to the node serving `partition`; resolves with its answer. Rejects with a
   * {@link PeerUnavailableError} if no node serves it or none answered within `timeoutMs`.
   */
  request(partition: number, body: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /**
   * Serves `partition`'s requests with `answer` (which must not reject) until the returned
   * function is called. Resolves once requests sent from now on reach this node.
   */
  serve(partition: number, answer: (body: Uint8Array) => Promise<Uint8Array>): Promise<() => Promise<void>>;
}
