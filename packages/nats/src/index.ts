// @onelog/nats: onelog's cluster mode on NATS JetStream (docs/cluster.md).
export { JetStreamLog, JETSTREAM_LOG_FORMAT } from "./internal/jetstream-log.js";
export type { JetStreamLogOptions } from "./internal/jetstream-log.js";
export { KvLeadership } from "./internal/kv-leadership.js";
export type { KvLeadershipOptions, LeadershipEvent } from "./internal/kv-leadership.js";
export { JetStreamSnapshots } from "./internal/snapshots.js";
export type { JetStreamSnapshotsOptions } from "./internal/snapshots.js";
export { KvDeploymentRecords, DEPLOYMENTS_DOCUMENT_FORMAT } from "./internal/kv-deployments.js";
export type { KvDeploymentRecordsOptions } from "./internal/kv-deployments.js";
export { connectCluster } from "./internal/cluster.js";
export type { ConnectClusterOptions } from "./internal/cluster.js";
export { NatsNodeRequests } from "./internal/node-requests.js";
export type { NatsNodeRequestsOptions } from "./internal/node-requests.js";
