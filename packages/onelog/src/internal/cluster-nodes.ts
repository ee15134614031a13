/**
 * The nodes of a cluster as the admin endpoint sees them (docs/cluster.md#admin-on-every-node):
 * who is live, who leads each partition now, and a request channel addressed to one node or to
 * every live node at once. `@onelog/nats` implements it on NATS request/reply
 * (`node-requests.ts`); `connectCluster` provides it as `ClusterBackend.nodes`.
 *
 * Bodies are JSON values. A request never hangs: it answers, fails, or times out, and a request
 * to every node says which nodes did not answer.
 */

/** Why a request to a node got no answer. */
export type NodeRequestFailure =
  /** The node did not answer within the timeout. */
  | "timeout"
  /** Nothing serves that node's channel (the node is gone, or serves no admin endpoint). */
  | "no_responders"
  /** The node's handler threw; the message is its error's. */
  | "failed";

/** A request to a node that got no answer; `failure` says why. */
export class NodeRequestError extends Error {
  constructor(
    readonly node: string,
    readonly failure: NodeRequestFailure,
    message: string,
  ) {
    super(`node ${node}: ${message}`);
    this.name = "NodeRequestError";
  }
}

/** What {@link ClusterNodes.requestMany} gathers. */
export interface NodeAnswers {
  /** Each answering node's answer, by node id. */
  readonly answers: ReadonlyMap<string, unknown>;
  /** The live nodes that gave no answer, sorted by id, with why. Empty when every node answered. */
  readonly missing: readonly {
    readonly node: string;
    readonly failure: NodeRequestFailure;
    readonly message: string;
  }[];
}

/** Options of one request. */
export interface NodeRequestOptions {
  /** How long to wait for the answer (default: the implementation's, 10 s for NATS). */
  readonly timeoutMs?: number;
}

/** Handles a request from another node (or this one); what it resolves with is the answer. */
export type NodeRequestHandler = (body: unknown, from: string) => Promise<unknown>;

/** See the header. */
export interface ClusterNodes {
  /** This node's id. */
  readonly node: string;
  /** The nodes live now (by their heartbeats), this one included, sorted. */
  liveNodes(): string[];
  /** The node holding partition `p`'s lease now, or undefined when none does (expired, released). */
  leaderOf(partition: number): string | undefined;
  /**
   * Asks one node. Rejects with a {@link NodeRequestError}: a timeout, no responder, or the
   * handler's error.
   *
   * @example
   * const answer = await nodes.request("node-2", { type: "ping" }, { timeoutMs: 2000 });
   */
  request(node: string, body: unknown, options?: NodeRequestOptions): Promise<unknown>;
  /**
   * Asks every live node at once (this one included) and resolves when each answered or failed,
   * at most after the timeout: the nodes that did not answer are listed in `missing`, never left
   * out silently.
   */
  requestMany(body: unknown, options?: NodeRequestOptions): Promise<NodeAnswers>;
  /**
   * Serves this node's channel with `handler` until the returned function is called. One handler
   * at a time: a second call replaces the first.
   */
  serve(handler: NodeRequestHandler): () => void;
}
