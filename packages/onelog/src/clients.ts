// onelog/clients: the typed ingress client of @onelog/sdk/clients, for programs that import only
// "onelog": `import * as clients from "onelog/clients"` where Restate's programs import
// "@restatedev/restate-sdk-clients". See docs/clients.md.
export { HttpCallError, Opts, SendOpts, connect, defaultShouldRetry, rpc, serde } from "@onelog/sdk/clients";
export type {
  ConnectionOpts,
  Duration,
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
  RetryFailure,
  RetryPolicy,
  ScopedIngress,
  Send,
  Serde,
  Service,
  ServiceDefinition,
  ServiceDefinitionFrom,
  VirtualObject,
  VirtualObjectDefinition,
  VirtualObjectDefinitionFrom,
  Workflow,
  WorkflowDefinition,
  WorkflowDefinitionFrom,
  WorkflowSubmission,
} from "@onelog/sdk/clients";
