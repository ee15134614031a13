// onelog SDK: the handler API. Names and semantics follow the Restate TypeScript SDK 1.x.
export { service, handlers } from "./internal/definitions.js";
export type {
  HandlerOptions,
  RetryPolicyOptions,
  ServiceDefinition,
  ServiceHandler,
  ServiceOptions,
} from "./internal/definitions.js";
export type { Context, ContextDate, Request, RunAction, RunOptions } from "./internal/context.js";
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
