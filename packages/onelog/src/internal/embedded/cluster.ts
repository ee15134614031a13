/**
 * Cluster mode as the server sees it (docs/cluster.md): a replicated log shared by every node,
 * leases for partition leadership, and snapshots of partition stores, in place of the data
 * directory's log.db and epochs.json. `@onelog/nats` provides one on NATS JetStream
 * (`connectCluster`); the data directory then holds this node's stores only.
 *
 * Invariants:
 * 1. A partition's local store is never behind the log's trim point when its processor starts:
 *    a node builds a processor for a partition only when it is granted it, and first replaces a
 *    store that is behind the trim point, or older than the latest snapshot, by that snapshot,
 *    so the processor replays only the tail (engine.ts, `catchUp`). A node keeps current only
 *    the stores of partitions it leads; the others stay as they were when it last led them.
 * 2. Only a partition's leader writes its snapshot, and the log is trimmed only up to the
 *    snapshot stored one compaction round *before* the latest: a node that takes the partition
 *    over while the latest snapshot is being written still finds the tail behind the one before.
 *    Nor past the snapshot stored when it trims: a deposed leader's late write may have replaced
 *    a newer snapshot by its older one (the store's check-then-write is not atomic), and the
 *    next round's snapshot replaces that again.
 */
import type { ClusterNodes } from "../cluster-nodes.js";
import type { SharedDeploymentRecords } from "../invoker/deployments.js";
import type { Log } from "../log/log.js";
import type { Logger } from "../ops/logger.js";
import type { Leadership } from "../partition/leadership.js";
import type { PartitionPeers } from "../partition/peers.js";
import type { SqliteStoreDb } from "../partition/store/sqlite-store.js";
import type { PartitionSnapshot } from "../partition/store/store.js";

/** Where snapshots of partition stores are kept (cluster: the JetStream object store). */
export interface SnapshotStore {
  /** Stores a snapshot as its partition's latest; resolves with the applied LSN now stored. */
  put(snapshot: PartitionSnapshot): Promise<{ readonly appliedLsn: number }>;
  /** The latest snapshot of a partition, or undefined. */
  latest(partition: number): Promise<PartitionSnapshot | undefined>;
  /** The applied LSN of a partition's latest snapshot (0 where there is none), without fetching it. */
  appliedLsn(partition: number): Promise<number>;
}

/** What a cluster gives a node; see the header. */
export interface ClusterBackend {
  /** This node's id. */
  readonly node: string;
  /** The log every node shares. */
  readonly log: Log;
  readonly snapshots: SnapshotStore;
  /** The deployments registered by URL, shared by every node (docs/deployments.md). */
  readonly deployments: SharedDeploymentRecords;
  /** Requests to the node leading a partition (partition/peers.ts). */
  readonly peers: PartitionPeers;
  /**
   * The other nodes: who leads what, and a request channel to them (cluster-nodes.ts). The admin
   * endpoint uses it to answer for the whole cluster.
   */
  readonly nodes: ClusterNodes;
  /** This node's leadership; `lastEpoch` reads the local stores. */
  leadership(lastEpoch: (partition: number) => number): Promise<Leadership & { close(): Promise<void> }>;
  /** Closes the log and the connection. */
  close(): Promise<void>;
}

/**
 * Invariant 1 for one partition: restores its store from the latest snapshot if the store is
 * behind the log's trim point or behind `storedLsn` (the latest snapshot's applied LSN, when
 * known). Resolves with whether it restored. A running node calls it for a follower the log was
 * trimmed past (engine.ts `catchUp`), with the partition's processor stopped.
 */
export async function restorePartition(
  cluster: ClusterBackend,
  stores: SqliteStoreDb,
  p: number,
  storedLsn: number,
  logger: Logger,
): Promise<boolean> {
  const applied = stores.partition(p).getAppliedLsn();
  const { trimmedLsn } = await cluster.log.findTail(p);
  if (applied >= trimmedLsn && applied >= storedLsn) return false;
  const snapshot = await cluster.snapshots.latest(p);
  if (snapshot === undefined || snapshot.appliedLsn < trimmedLsn) {
    throw new Error(
      `partition ${p}: the local store has applied up to LSN ${applied}, the log is trimmed up to ${trimmedLsn}, ` +
        `and no snapshot covers the gap (latest: ${snapshot?.appliedLsn ?? "none"})`,
    );
  }
  if (snapshot.appliedLsn <= applied) return false;
  stores.restore(snapshot);
  logger.info(
    { partition: p, appliedLsn: snapshot.appliedLsn, sizeBytes: snapshot.bytes.byteLength },
    "partition restored from its snapshot; replaying the tail",
  );
  return true;
}

/**
 * Invariant 2: one compaction round — the leader of each partition led here writes a snapshot,
 * and the log is trimmed up to the snapshot of the round before. Returns the next round's
 * trim points (pass them back in).
 */
export async function compactCluster(
  cluster: ClusterBackend,
  stores: SqliteStoreDb,
  leading: (partition: number) => boolean,
  previous: readonly number[],
): Promise<number[]> {
  const next = [...previous];
  for (let p = 0; p < previous.length; p++) {
    if (!leading(p)) {
      next[p] = 0;
      continue;
    }
    const { appliedLsn } = await cluster.snapshots.put(await stores.partition(p).snapshot());
    if (previous[p]! > 0) {
      const upTo = Math.min(previous[p]!, await cluster.snapshots.appliedLsn(p));
      if (upTo > 0) await cluster.log.trim(p, upTo);
    }
    next[p] = appliedLsn;
  }
  return next;
}
