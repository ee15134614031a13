/**
 * The errors users see. Checks work across copies of the package: each class carries a
 * `Symbol.for` brand, and the `is…` helpers look at the brand, not only at `instanceof`.
 */

const TERMINAL = Symbol.for("onelog.TerminalError");
const RETRYABLE = Symbol.for("onelog.RetryableError");
const TIMEOUT = Symbol.for("onelog.TimeoutError");
const CANCELLED = Symbol.for("onelog.CancelledError");
const MISMATCH = Symbol.for("onelog.JournalMismatchError");

/** Options of a {@link TerminalError}. */
export interface TerminalErrorOptions {
  /** An error code; used as the HTTP status at the ingress when it is in 400–599. Default 500. */
  readonly errorCode?: number;
  readonly cause?: unknown;
  /**
   * Key/value pairs recorded with the failure (as in Restate's SDK; protocol V6): journaled
   * with it and given to whoever gets the failure (callers, attachers, the ingress's error
   * body). Dropped on a V5 stream.
   */
  readonly metadata?: Record<string, string>;
}

/**
 * An error that is never retried: thrown from a handler it completes the invocation as failed;
 * thrown from a `ctx.run` body it is journaled as that step's result and thrown again on replay.
 *
 * @example
 * if (amount < 0) throw new TerminalError("amount must be positive", { errorCode: 400 });
 */
export class TerminalError extends Error {
  readonly code: number;
  /** The failure's metadata (`{}` when none), as in Restate's SDK. */
  readonly metadata?: Record<string, string>;
  readonly [TERMINAL] = true;
  constructor(message: string, options?: TerminalErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TerminalError";
    this.code = options?.errorCode ?? 500;
    this.metadata = options?.metadata ?? {};
  }
  /** @deprecated alias of `code`, as in the Restate SDK. */
  get errorCode(): number {
    return this.code;
  }
}

/** Options of a {@link RetryableError}. */
export interface RetryableErrorOptions {
  /** Wait this long before the next attempt instead of the retry policy's interval. */
  readonly retryAfter?: import("./duration.js").Duration;
  readonly errorCode?: number;
  readonly cause?: unknown;
}

/**
 * An error that fails the current attempt; the invocation is retried with its journal so far.
 * Any other thrown value behaves the same; this class only adds `retryAfter`.
 */
export class RetryableError extends Error {
  readonly code: number;
  readonly retryAfter: import("./duration.js").Duration | undefined;
  readonly [RETRYABLE] = true;
  constructor(message: string, options?: RetryableErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RetryableError";
    this.code = options?.errorCode ?? 500;
    this.retryAfter = options?.retryAfter;
  }
}

/** A terminal error raised when an awaited operation did not complete in time (code 408). */
export class TimeoutError extends TerminalError {
  readonly [TIMEOUT] = true;
  constructor(message = "Timeout occurred") {
    super(message, { errorCode: 408 });
    this.name = "TimeoutError";
  }
}

/** A terminal error raised in a handler whose invocation was cancelled (code 409). */
export class CancelledError extends TerminalError {
  readonly [CANCELLED] = true;
  constructor(message = "Cancelled") {
    super(message, { errorCode: 409 });
    this.name = "CancelledError";
  }
}

/**
 * The handler did not do what its journal says it did on an earlier attempt: the code changed
 * while invocations were in flight, or it branched on something not journaled (Math.random,
 * Date.now, I/O outside ctx.run). The attempt fails and is retried; it keeps failing until
 * the code matches the journal again.
 */
export class JournalMismatchError extends Error {
  readonly [MISMATCH] = true;
  readonly code = "OL0001";
  constructor(message: string) {
    super(message);
    this.name = "JournalMismatchError";
  }
}

function branded(e: unknown, brand: symbol): boolean {
  return typeof e === "object" && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}

/** True for a {@link TerminalError} from any copy of the SDK. */
export function isTerminalError(e: unknown): e is TerminalError {
  return branded(e, TERMINAL);
}
/** True for a {@link RetryableError} from any copy of the SDK. */
export function isRetryableError(e: unknown): e is RetryableError {
  return branded(e, RETRYABLE);
}
/** True for a {@link TimeoutError} from any copy of the SDK. */
export function isTimeoutError(e: unknown): e is TimeoutError {
  return branded(e, TIMEOUT);
}
/** True for a {@link CancelledError} from any copy of the SDK. */
export function isCancelledError(e: unknown): e is CancelledError {
  return branded(e, CANCELLED);
}
/** True for a {@link JournalMismatchError} from any copy of the SDK. */
export function isJournalMismatchError(e: unknown): e is JournalMismatchError {
  return branded(e, MISMATCH);
}

/**
 * The base class of Restate's errors in its SDK; here an alias of {@link TerminalError}'s
 * parent shape for programs that name it in `instanceof` checks or types. Thrown from a handler
 * it behaves as any non-terminal error: the attempt is retried.
 */
export class RestateError extends Error {
  readonly code: number;
  constructor(message: string, options?: { readonly errorCode?: number; readonly cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RestateError";
    this.code = options?.errorCode ?? 500;
  }
}
