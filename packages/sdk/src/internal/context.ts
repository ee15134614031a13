/** The handler context types. Names follow the Restate TypeScript SDK 1.x. */
import type { Duration } from "./duration.js";
import type { Rand } from "./rand.js";
import type { Serde } from "./serde.js";

/** What the handler was called with: its invocation id, headers and raw body. */
export interface Request {
  /** The invocation id, `inv_…`. */
  readonly id: string;
  /** Headers of the request that created the invocation (lower-case names). */
  readonly headers: ReadonlyMap<string, string>;
  /** Headers of this attempt (onelog: the same as `headers`). */
  readonly attemptHeaders: ReadonlyMap<string, string | string[] | undefined>;
  /** The serialized input. */
  readonly body: Uint8Array;
  readonly extraArgs: unknown[];
}

/**
 * Retry options of one `ctx.run`. Without any of them, a step that throws a non-terminal error
 * fails the whole attempt, and the invocation is retried by its retry policy. With them, the
 * step is retried in place; once they are used up its last error is journaled as a
 * TerminalError, which `ctx.run` throws (now and on every replay).
 */
export interface RunOptions<T> {
  readonly serde?: Serde<T>;
  /** Tries in all, the first included. */
  readonly maxRetryAttempts?: number;
  /** Stop retrying once this long has passed since the first try. */
  readonly maxRetryDuration?: Duration;
  /** First wait between tries. Default 50 ms. */
  readonly initialRetryInterval?: Duration;
  /** Each wait is the previous one times this. Default 2. */
  readonly retryIntervalFactor?: number;
  /** The wait never grows beyond this. Default 10 s. */
  readonly maxRetryInterval?: Duration;
}

/** A step body: any function, sync or async. Its result must be serializable by the serde. */
export type RunAction<T> = () => T | Promise<T>;

/** `ctx.date`: the current time, journaled so that replays see the same value. */
export interface ContextDate {
  /** Date.now(), taken once and journaled. */
  now(): Promise<number>;
  /** new Date().toJSON(), taken once and journaled. */
  toJSON(): Promise<string>;
}

/** The context of a service handler. */
export interface Context {
  /**
   * Runs `action` once and journals its result. Resolves only once the result is durable; from
   * then on the step never runs again: a retry or a replay after a crash returns the journaled
   * result (or throws the journaled TerminalError) without calling `action`.
   * If the process dies after `action` ran but before its result was durable, `action` runs
   * again on the next attempt: make it idempotent, or accept at-least-once for that window.
   *
   * @example
   * const id = await ctx.run("create user", () => db.insertUser(name));
   */
  run<T>(name: string, action: RunAction<T>, options?: RunOptions<T>): Promise<T>;
  run<T>(action: RunAction<T>): Promise<T>;
  /** Random numbers seeded by the invocation id: the same on every replay. */
  readonly rand: Rand;
  /** The current time, journaled. */
  readonly date: ContextDate;
  /** A console that stays silent while the handler replays journaled steps. */
  readonly console: Console;
  /** The request this invocation was created with. */
  request(): Request;
}
