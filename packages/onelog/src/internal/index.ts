// The engine's seams, for the packages that implement them (`@onelog/nats`: the JetStream log,
// KV leadership and snapshots). Not for applications: what is here may change with the engine.
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
export { DataFormatError } from "./format-versions.js";
export type { PartitionSnapshot } from "./partition/store/store.js";
export type { ClusterBackend, SnapshotStore } from "./embedded/cluster.js";
export type { Deployment, DeploymentsRevision, SharedDeploymentRecords } from "./invoker/deployments.js";
