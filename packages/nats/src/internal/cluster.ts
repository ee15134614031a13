/**
 * A node's connection to a onelog cluster on NATS JetStream: the shared log (one stream), the
 * leases (a KV bucket), the snapshots (an object store bucket) and the deployments registered
 * by URL (a KV bucket), over one NATS connection.
 * `onelog serve --cluster nats://…` starts the server with it (docs/cluster.md).
 */
import { connect } from "@nats-io/transport-node";
import type { ClusterBackend } from "onelog/internal";
import { JetStreamLog } from "./jetstream-log.js";
import { KvDeploymentRecords } from "./kv-deployments.js";
import { retrying } from "./nats-errors.js";
import { checkNodeId, KvLeadership } from "./kv-leadership.js";
import { NatsPartitionPeers } from "./partition-peers.js";
import { NatsNodeRequests } from "./node-requests.js";
import { JetStreamSnapshots } from "./snapshots.js";

/** Options of {@link connectCluster}. */
export interface ConnectClusterOptions {
  /** NATS server URLs (several: the client fails over between them). */
  readonly servers: string | readonly string[];
  /** This node's id: 1 to 64 letters, digits, `-` and `_`, stable across its restarts. */
  readonly node: string;
  /** Partitions of the log (must match the stream's, once it exists). */
  readonly partitions: number;
  /** Replicas of the stream and buckets this node creates if they do not exist (default 1; 3 in production). */
  readonly replicas?: number;
  /** The stream's name (default "onelog"); the KV and object store buckets are named after it. */
  readonly stream?: string;
  /** How long a partition lease lasts without renewal (default 10 s). */
  readonly leaseMs?: number;
  /** How long setup retries while JetStream answers slowly (timeouts, 503) (default 60 s). */
  readonly setupTimeoutMs?: number;
}

/**
 * Connects to NATS and opens (or creates) the log's stream, the snapshot and deployment buckets. Rejects if
 * no server answers, or the stream was created with another partition count.
 *
 * @example
 * const cluster = await connectCluster({ servers: ["nats://127.0.0.1:4222"], node: "n1", partitions: 24, replicas: 3 });
 * const server = await startServer({ services, dataDir: ".onelog-n1" }, cluster);
 */
export async function connectCluster(options: ConnectClusterOptions): Promise<ClusterBackend> {
  checkNodeId(options.node);
  const stream = options.stream ?? "onelog";
  const replicas = options.replicas ?? 1;
  const nc = await connect({
    servers: typeof options.servers === "string" ? options.servers : [...options.servers],
    name: `onelog-${options.node}`,
    maxReconnectAttempts: -1,
    // Every publish and pull is a request; with traces on, the client captures two stack traces
    // per request up front (RequestError, TimeoutError): 2.7% of a loaded node's busy time. The
    // log's own errors say which operation failed.
    noAsyncTraces: true,
  });
  // Nodes started together race to create the stream and buckets; JetStream may answer slowly
  // (a timeout, 503) while it places R3 assets. Those are retried; anything else is not.
  const setupMs = options.setupTimeoutMs ?? 60_000;
  try {
    return await retrying(open, setupMs);
  } catch (error) {
    await nc.close();
    throw error;
  }

  async function open(): Promise<ClusterBackend> {
    const log = await JetStreamLog.open({
      connection: nc,
      partitions: options.partitions,
      stream,
      replicas,
      producer: `${options.node}-${Date.now().toString(36)}`,
    });
    const snapshots = await JetStreamSnapshots.open({
      connection: nc,
      bucket: `${stream}-snapshots`,
      replicas,
    });
    const deployments = await KvDeploymentRecords.open({
      connection: nc,
      bucket: `${stream}-deployments`,
      replicas,
    });
    // The node channel (node-requests.ts) sees who is live and leads what through the leases,
    // once the server started them.
    let leases: KvLeadership | undefined;
    const nodes = new NatsNodeRequests({ connection: nc, stream, node: options.node, view: () => leases });
    return {
      node: options.node,
      log,
      snapshots,
      deployments,
      peers: new NatsPartitionPeers(nc, stream),
      nodes,
      leadership: async (lastEpoch) =>
        (leases = await retrying(
          () =>
            KvLeadership.start({
              connection: nc,
              node: options.node,
              partitions: options.partitions,
              bucket: `${stream}-leases`,
              replicas,
              lastEpoch,
              ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
            }),
          setupMs,
        )),
      close: async () => {
        await log.close();
        await nc.close();
      },
    };
  }
}
