/**
 * Automatic retries of the ingress client (`connect({ retry })`), off unless asked for. Only
 * requests that are safe to repeat are retried: calls and sends with an idempotency key, workflow
 * submissions (a workflow runs once per id) and reads of results (attach, output).
 */
import { durationMs, type Duration } from "../duration.js";

/** A failure that may be retried: the request never got an answer, or got a non-2xx one. */
export type RetryFailure =
  | {
      /** `fetch` rejected: connection refused or reset, DNS. */
      readonly kind: "network";
      readonly error: unknown;
    }
  | {
      /** The server answered with a non-2xx status. */
      readonly kind: "response";
      readonly status: number;
      readonly headers: Headers;
      /** The answer's body as text, when it had one. */
      readonly body?: string;
    };

/**
 * How the client retries. Retrying stops at whichever comes first of `maxAttempts` and
 * `maxDuration`; a retry waits `initialInterval × exponentiationFactor^n` (at most `maxInterval`,
 * ±20 % jitter), or what the answer's `Retry-After` says.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included. Default 6; `false`: no bound. */
  maxAttempts?: number | false;
  /** No new attempt starts this long after the first one. Default 60 s; `false`: no bound. */
  maxDuration?: Duration | false;
  /** The first wait. Default 250 ms. */
  initialInterval?: Duration;
  /** The longest wait (before jitter). Default 3 s. */
  maxInterval?: Duration;
  /** Each wait is the previous one times this. Default 2. */
  exponentiationFactor?: number;
  /** Wait what a `Retry-After` header says instead of the computed backoff. Default true. */
  respectRetryAfter?: boolean;
  /** Which failures to retry; replaces {@link defaultShouldRetry}. `attempt` counts from 0. */
  shouldRetry?: (failure: RetryFailure, attempt: number) => boolean;
}

/** A policy with every field decided, in milliseconds. */
export interface ResolvedRetryPolicy {
  readonly maxAttempts: number;
  readonly maxDurationMs: number;
  readonly initialIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly factor: number;
  readonly respectRetryAfter: boolean;
  readonly shouldRetry: (failure: RetryFailure, attempt: number) => boolean;
}

/** The policy `retry` asks for; undefined when retries are off (the default). */
export function resolveRetryPolicy(
  retry: RetryPolicy | boolean | undefined,
): ResolvedRetryPolicy | undefined {
  if (retry === undefined || retry === false) return undefined;
  const p: RetryPolicy = retry === true ? {} : retry;
  const ms = (d: Duration | undefined, dflt: number) => (d === undefined ? dflt : durationMs(d));
  return {
    maxAttempts: p.maxAttempts === false ? Infinity : (p.maxAttempts ?? 6),
    maxDurationMs: p.maxDuration === false ? Infinity : ms(p.maxDuration, 60_000),
    initialIntervalMs: ms(p.initialInterval, 250),
    maxIntervalMs: ms(p.maxInterval, 3_000),
    factor: p.exponentiationFactor ?? 2,
    respectRetryAfter: p.respectRetryAfter ?? true,
    shouldRetry: p.shouldRetry ?? defaultShouldRetry,
  };
}

/**
 * The built-in choice of what to retry: network failures, and answers 408, 425, 429 and 5xx —
 * unless the server says the error is the invocation's own outcome (`x-restate-error-source:
 * invocation`, which both restate-server and onelog send): a handler's terminal error is an
 * answer, not a transient failure. Exported so a custom `shouldRetry` can build on it.
 *
 * @example
 * connect({ url, retry: { shouldRetry: (f, n) => n < 2 && defaultShouldRetry(f) } });
 */
export function defaultShouldRetry(failure: RetryFailure): boolean {
  if (failure.kind === "network") return true;
  if (failure.headers.get("x-restate-error-source") === "invocation") return false;
  const s = failure.status;
  return s === 408 || s === 425 || s === 429 || (s >= 500 && s <= 599);
}

/** The wait before the retry that follows failed attempt `attempt` (from 0). */
export function backoffMs(policy: ResolvedRetryPolicy, attempt: number): number {
  const base = Math.min(policy.initialIntervalMs * policy.factor ** attempt, policy.maxIntervalMs);
  return base * (0.8 + Math.random() * 0.4);
}

/** A `Retry-After` header in ms: seconds, or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(headers: Headers, now: number): number | undefined {
  const value = headers.get("retry-after");
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Waits `ms`; rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => (signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    if (signal?.aborted === true) {
      reject(aborted());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
