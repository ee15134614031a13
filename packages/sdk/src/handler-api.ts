// The handler API that both entry points of @onelog/sdk offer, listed once: `@onelog/sdk`
// (index.ts, with the Node endpoint) and `@onelog/sdk/fetch` (fetch.ts, with the fetch
// endpoint). Names and semantics follow the Restate TypeScript SDK 1.x. Not an entry point.
export {
  service,
  object,
  workflow,
  handlers,
  createObjectHandler,
  createObjectSharedHandler,
  createServiceHandler,
  createWorkflowHandler,
  createWorkflowSharedHandler,
} from "./internal/definitions.js";
export type {
  AnyDefinition,
  HandlerOptions,
  HandlerOptions as ServiceHandlerOpts,
  HandlerOptions as ObjectHandlerOpts,
  HandlerOptions as WorkflowHandlerOpts,
  RemoveVoidArgument,
  RetryPolicyOptions as RetryPolicy,
  Service,
  ServiceDefinitionFrom,
  ServiceOptions as ObjectOptions,
  VirtualObject,
  VirtualObjectDefinitionFrom,
  Workflow,
  WorkflowDefinitionFrom,
  WorkflowOptions,
  ObjectHandler,
  ObjectSharedHandler,
  RetryPolicyOptions,
  ServiceDefinition,
  ServiceHandler,
  ServiceOptions,
  VirtualObjectDefinition,
  WorkflowDefinition,
  WorkflowHandler,
  WorkflowSharedHandler,
} from "./internal/definitions.js";
export type {
  Awakeable,
  Client,
  Context,
  ContextDate,
  DurablePromise,
  GenericCall,
  GenericSend,
  InferArg,
  InvocationHandle,
  InvocationReference,
  KeyValueStore,
  TypedState,
  UntypedState,
  InvocationPromise,
  ObjectContext,
  ObjectSharedContext,
  Context as RestateContext,
  ObjectContext as RestateObjectContext,
  ObjectSharedContext as RestateObjectSharedContext,
  WorkflowContext as RestateWorkflowContext,
  WorkflowSharedContext as RestateWorkflowSharedContext,
  Request,
  Target,
  RunAction,
  RunOptions,
  SendClient,
  SignalReference,
  WorkflowContext,
  WorkflowSharedContext,
} from "./internal/context.js";
export { RestatePromise, RestatePromise as CombineablePromise } from "./internal/restate-promise.js";
export { isRestatePromise } from "./internal/is-restate-promise.js";
export { rpc } from "./internal/rpc.js";
export type {
  CallOptions,
  CallOptions as ClientCallOptions,
  Opts,
  SendOptions,
  SendOptions as ClientSendOptions,
  SendOpts,
} from "./internal/rpc.js";
export { InvocationIdParser } from "./internal/invocation-id.js";
export type { InvocationId } from "./internal/invocation-id.js";
export type { Rand } from "./internal/rand.js";
export type { Duration } from "./internal/duration.js";
export { serde } from "./internal/serde.js";
export type { Serde, StandardSchemaV1 } from "./internal/serde.js";
export {
  CancelledError,
  JournalMismatchError,
  RestateError,
  RetryableError,
  TerminalError,
  TimeoutError,
  isCancelledError,
  isJournalMismatchError,
  isRetryableError,
  isTerminalError,
  isTimeoutError,
} from "./internal/errors.js";
export type { RetryableErrorOptions, TerminalErrorOptions } from "./internal/errors.js";
