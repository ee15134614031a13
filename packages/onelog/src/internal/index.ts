// The engine's seams, for the packages that implement them (`@onelog/nats`: the JetStream log,
// KV leadership, snapshots and deployment records), and `startServer` for programs that start a
// cluster node themselves, as `onelog serve --cluster` does (the bench's compiled cluster nodes).
// Not for applications: what is here may change with the engine.
export { LogError } from "./log/log.js";
export type {
  DedupKey,
  EntryHeader,
  Log,
  LogEntry,
  LogErrorCode,
  LogPosition,
  StoredEntry,
} from "./log/log.js";
export type { Leadership, LeadershipGrant } from "./partition/leadership.js";
export { PeerUnavailableError } from "./partition/peers.js";
export type { PartitionPeers } from "./partition/peers.js";
export { DataFormatError } from "./format-versions.js";
export type { PartitionSnapshot } from "./partition/store/store.js";
export type { ClusterBackend, SnapshotStore } from "./embedded/cluster.js";
export { NodeRequestError } from "./cluster-nodes.js";
export type {
  ClusterNodes,
  NodeAnswers,
  NodeRequestFailure,
  NodeRequestHandler,
  NodeRequestOptions,
} from "./cluster-nodes.js";
export { startServer } from "./embedded/start.js";
export type { Deployment, DeploymentsRevision, SharedDeploymentRecords } from "./invoker/deployments.js";
