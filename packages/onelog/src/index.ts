// onelog: the durable-execution engine and the SDK in one import.
export {
  CancelledError,
  JournalMismatchError,
  RetryableError,
  TerminalError,
  TimeoutError,
  handlers,
  isCancelledError,
  isJournalMismatchError,
  isRetryableError,
  isTerminalError,
  isTimeoutError,
  serde,
  service,
} from "@onelog/sdk";
export type {
  Context,
  ContextDate,
  Duration,
  HandlerOptions,
  Rand,
  Request,
  RetryPolicyOptions,
  RetryableErrorOptions,
  RunAction,
  RunOptions,
  Serde,
  ServiceDefinition,
  ServiceHandler,
  ServiceOptions,
  TerminalErrorOptions,
} from "@onelog/sdk";
export { start } from "./internal/start.js";
export type { OnelogServer, StartOptions } from "./internal/start.js";
export type { Engine, InvocationRequest } from "./internal/engine.js";
export type { Logger } from "./internal/logger.js";
export { DataDirLockedError } from "./internal/data-dir.js";
