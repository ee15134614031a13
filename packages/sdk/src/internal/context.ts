/** The handler context types. Names follow the Restate TypeScript SDK 1.x. */
import type { ServiceDefinition, VirtualObjectDefinition, WorkflowDefinition } from "./definitions.js";
import type { Duration } from "./duration.js";
import type { Rand } from "./rand.js";
import type { RestatePromise } from "./restate-promise.js";
import type { Serde } from "./serde.js";
import type { Opts, SendOpts } from "./rpc.js";

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

/** A call in flight: a future of the callee's output that also knows the callee's id. */
export interface InvocationPromise<T> extends RestatePromise<T> {
  /** The callee's invocation id, once the call is journaled. */
  readonly invocationId: Promise<string>;
}

/** A one-way send: knows the callee's id. */
export interface InvocationHandle {
  readonly invocationId: Promise<string>;
}

type Handlers<D> =
  D extends ServiceDefinition<string, infer M>
    ? M
    : D extends VirtualObjectDefinition<string, infer M>
      ? M
      : D extends WorkflowDefinition<string, infer M>
        ? M
        : never;

type InputOf<F> = F extends (ctx: any, input: infer I) => any ? I : never;
type OutputOf<F> = F extends (...args: any[]) => Promise<infer O> ? O : never;

/** A typed client: one method per handler, returning the handler's output as a future. */
export type Client<D> = {
  readonly [K in keyof Handlers<D>]: unknown extends InputOf<Handlers<D>[K]>
    ? (input?: InputOf<Handlers<D>[K]>, opts?: Opts<any, any>) => InvocationPromise<OutputOf<Handlers<D>[K]>>
    : (input: InputOf<Handlers<D>[K]>, opts?: Opts<any, any>) => InvocationPromise<OutputOf<Handlers<D>[K]>>;
};

/** A typed send client: one method per handler, returning a handle at once. */
export type SendClient<D> = {
  readonly [K in keyof Handlers<D>]: (
    input?: InputOf<Handlers<D>[K]>,
    opts?: SendOpts<any>,
  ) => InvocationHandle;
};

/** A definition, or just its name (typed through the generic parameter). */
export type DefinitionRef<D> = D | { readonly name: string };

/** A call described by names, with bytes in and out unless serdes are given. */
export interface GenericCall<REQ = Uint8Array, RES = Uint8Array> {
  readonly service: string;
  readonly method: string;
  readonly parameter: REQ;
  readonly key?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly idempotencyKey?: string;
  readonly inputSerde?: Serde<REQ>;
  readonly outputSerde?: Serde<RES>;
}

/** A send described by names. */
export interface GenericSend<REQ = Uint8Array> extends Omit<GenericCall<REQ, unknown>, "outputSerde"> {
  readonly delay?: Duration;
}

/** An awakeable: an id to hand out, and the future its resolution completes. */
export interface Awakeable<T> {
  readonly id: string;
  readonly promise: RestatePromise<T>;
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
  run<T>(name: string, action: RunAction<T>, options?: RunOptions<T>): RestatePromise<T>;
  run<T>(action: RunAction<T>): RestatePromise<T>;
  /** A durable timer: completes after `duration`, also across crashes and suspensions. */
  sleep(duration: Duration, name?: string): RestatePromise<void>;
  /** Random numbers seeded by the invocation id: the same on every replay. */
  readonly rand: Rand;
  /** The current time, journaled. */
  readonly date: ContextDate;
  /** A console that stays silent while the handler replays journaled steps. */
  readonly console: Console;
  /** The request this invocation was created with. */
  request(): Request;

  /** Calls handlers of a service and awaits their output. */
  serviceClient<D>(service: DefinitionRef<D>): Client<D>;
  /** Calls handlers of one object key. */
  objectClient<D>(object: DefinitionRef<D>, key: string): Client<D>;
  /** Calls handlers of one workflow instance (`run`, or a shared handler). */
  workflowClient<D>(workflow: DefinitionRef<D>, workflowId: string): Client<D>;
  /** Sends to handlers of a service without waiting (`rpc.sendOpts({ delay })` delays). */
  serviceSendClient<D>(service: DefinitionRef<D>, opts?: SendOpts<any>): SendClient<D>;
  objectSendClient<D>(object: DefinitionRef<D>, key: string, opts?: SendOpts<any>): SendClient<D>;
  workflowSendClient<D>(workflow: DefinitionRef<D>, workflowId: string, opts?: SendOpts<any>): SendClient<D>;
  /** Calls a handler by name; bytes in and out unless serdes are given. */
  genericCall<REQ = Uint8Array, RES = Uint8Array>(call: GenericCall<REQ, RES>): InvocationPromise<RES>;
  /** Sends to a handler by name. */
  genericSend<REQ = Uint8Array>(send: GenericSend<REQ>): InvocationHandle;

  /** A new awakeable: give its id to someone who resolves it (over HTTP or from a handler). */
  awakeable<T>(serde?: Serde<T>): Awakeable<T>;
  resolveAwakeable<T>(id: string, payload?: T, serde?: Serde<T>): void;
  rejectAwakeable(id: string, reason: string): void;
  /** Waits for another invocation's result. */
  attach<T>(invocationId: string, serde?: Serde<T>): RestatePromise<T>;
  /** Asks another invocation to cancel: it sees a CancelledError at its next await. */
  cancel(invocationId: string): void;
}

/** The context of a shared object handler: reads the key's state. */
export interface ObjectSharedContext extends Context {
  readonly key: string;
  /** The value of a state entry, or null when there is none. */
  get<T>(name: string, serde?: Serde<T>): Promise<T | null>;
  /** The names of the key's state entries. */
  stateKeys(): Promise<string[]>;
}

/** The context of an exclusive object handler: reads and writes the key's state. */
export interface ObjectContext extends ObjectSharedContext {
  set<T>(name: string, value: T, serde?: Serde<T>): void;
  clear(name: string): void;
  clearAll(): void;
}

/** A durable promise of a workflow: resolved once, by any handler of the workflow instance. */
export interface DurablePromise<T> extends RestatePromise<T> {
  /** Waits for the promise. */
  get(): RestatePromise<T>;
  /** The value if resolved, undefined if not yet; throws if rejected. */
  peek(): Promise<T | undefined>;
  /** Resolves it; fails with a TerminalError (409) if it was already completed. */
  resolve(value?: T): Promise<void>;
  /** Rejects it; fails with a TerminalError (409) if it was already completed. */
  reject(errorMsg: string): Promise<void>;
}

/** The context of a shared workflow handler. */
export interface WorkflowSharedContext extends ObjectSharedContext {
  promise<T>(name: string, serde?: Serde<T>): DurablePromise<T>;
}

/** The context of a workflow's `run` handler. */
export interface WorkflowContext extends WorkflowSharedContext {
  set<T>(name: string, value: T, serde?: Serde<T>): void;
  clear(name: string): void;
  clearAll(): void;
}
