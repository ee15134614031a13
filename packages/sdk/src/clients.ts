// @onelog/sdk/clients: the typed ingress client, with the names of @restatedev/restate-sdk-clients 1.x.
// `import * as clients from "@restatedev/restate-sdk-clients"` becomes `… from "@onelog/sdk/clients"`
// (or "onelog/clients"); docs/clients.md says what it does and docs/compatibility.md what differs.
export { connect, HttpCallError } from "./internal/clients/ingress.js";
export { Opts, SendOpts, rpc } from "./internal/clients/api.js";
export type {
  ConnectionOpts,
  InferArgType,
  Ingress,
  IngressCallOptions,
  IngressClient,
  IngressClientFromDescriptors,
  IngressSendClient,
  IngressSendClientFromDescriptors,
  IngressSendOptions,
  IngressWorkflowClient,
  JournalValueCodec,
  Output,
  ScopedIngress,
  Send,
  WorkflowSubmission,
} from "./internal/clients/api.js";
export { defaultShouldRetry } from "./internal/clients/retry.js";
export type { RetryFailure, RetryPolicy } from "./internal/clients/retry.js";
export { serde } from "./internal/serde.js";
export type { Serde } from "./internal/serde.js";
export type { Duration } from "./internal/duration.js";
export type {
  Service,
  ServiceDefinition,
  ServiceDefinitionFrom,
  VirtualObject,
  VirtualObjectDefinition,
  VirtualObjectDefinitionFrom,
  Workflow,
  WorkflowDefinition,
  WorkflowDefinitionFrom,
} from "./internal/definitions.js";
