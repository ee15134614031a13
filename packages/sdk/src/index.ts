// onelog SDK: the handler API. Names and semantics follow the Restate TypeScript SDK 1.x.
export { service, object, workflow, handlers } from "./internal/definitions.js";
export type {
  AnyDefinition,
  HandlerOptions,
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
  InvocationHandle,
  InvocationPromise,
  ObjectContext,
  ObjectSharedContext,
  Request,
  RunAction,
  RunOptions,
  SendClient,
  WorkflowContext,
  WorkflowSharedContext,
} from "./internal/context.js";
export { RestatePromise } from "./internal/restate-promise.js";
export { rpc } from "./internal/rpc.js";
export type { CallOptions, Opts, SendOptions, SendOpts } from "./internal/rpc.js";
export type { Rand } from "./internal/rand.js";
export type { Duration } from "./internal/duration.js";
export { serde } from "./internal/serde.js";
export type { Serde } from "./internal/serde.js";
export {
  CancelledError,
  JournalMismatchError,
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
