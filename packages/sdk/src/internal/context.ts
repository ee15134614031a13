/** The handler context types. Names follow the Restate TypeScript SDK 1.x. */
import type {
  Service,
  ServiceDefinitionFrom,
  VirtualObject,
  VirtualObjectDefinitionFrom,
  Workflow,
  WorkflowDefinitionFrom,
} from "./definitions.js";
import type { Duration } from "./duration.js";
import type { Rand } from "./rand.js";
import type { RestatePromise } from "./restate-promise.js";
import type { Serde } from "./serde.js";
import type { Opts, SendOpts } from "./rpc.js";
import type { TerminalError } from "./errors.js";

/** What the handler was called with: its invocation id, headers and raw body. */
/** What an invocation runs: `toString()` gives `service/handler` or `service/key/handler`, as Restate's SDK does. */
export interface Target {
  readonly service: string;
  readonly handler: string;
  /** The object key or workflow id, for keyed handlers. */
  readonly key?: string;
  toString(): string;
}

export interface Request {
  /** The service, handler and key this invocation runs. */
  readonly target: Target;
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

/** The first element of a parameter list, or unknown. */
export type InferArg<P> = P extends [infer A, ...any[]] ? A : unknown;

/**
 * A typed client of a handlers type `M` (`Service<typeof svc>` …): one method per handler, taking
 * the handler's input (none for a handler without one) and an optional `rpc.opts(…)` last, and
 * returning the output as an {@link InvocationPromise}. As in the Restate SDK.
 */
export type Client<M> = {
  [K in keyof M as M[K] extends never ? never : K]: M[K] extends (
    arg: any,
    ...args: infer P
  ) => PromiseLike<infer O>
    ? (...args: [...P, ...[opts?: Opts<InferArg<P>, O>]]) => InvocationPromise<O>
    : never;
};

/** A typed send client of a handlers type `M`: like {@link Client}, with `rpc.sendOpts(…)`, returning a handle. */
export type SendClient<M> = {
  [K in keyof M as M[K] extends never ? never : K]: M[K] extends (arg: any, ...args: infer P) => any
    ? (...args: [...P, ...[opts?: SendOpts<InferArg<P>>]]) => InvocationHandle
    : never;
};

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
  serviceClient<D>(service: ServiceDefinitionFrom<D>): Client<Service<D>>;
  /** Calls handlers of one object key. */
  objectClient<D>(object: VirtualObjectDefinitionFrom<D>, key: string): Client<VirtualObject<D>>;
  /** Calls handlers of one workflow instance (`run`, or a shared handler). */
  workflowClient<D>(workflow: WorkflowDefinitionFrom<D>, workflowId: string): Client<Workflow<D>>;
  /** Sends to handlers of a service without waiting (`rpc.sendOpts({ delay })` delays). */
  serviceSendClient<D>(service: ServiceDefinitionFrom<D>, opts?: SendOpts<any>): SendClient<Service<D>>;
  objectSendClient<D>(
    object: VirtualObjectDefinitionFrom<D>,
    key: string,
    opts?: SendOpts<any>,
  ): SendClient<VirtualObject<D>>;
  workflowSendClient<D>(
    workflow: WorkflowDefinitionFrom<D>,
    workflowId: string,
    opts?: SendOpts<any>,
  ): SendClient<Workflow<D>>;
  /** Calls a handler by name; bytes in and out unless serdes are given. */
  genericCall<REQ = Uint8Array, RES = Uint8Array>(call: GenericCall<REQ, RES>): InvocationPromise<RES>;
  /** Sends to a handler by name. */
  genericSend<REQ = Uint8Array>(send: GenericSend<REQ>): InvocationHandle;

  /** A new awakeable: give its id to someone who resolves it (over HTTP or from a handler). */
  awakeable<T>(serde?: Serde<T>): Awakeable<T>;
  resolveAwakeable<T>(id: string, payload?: T, serde?: Serde<T>): void;
  rejectAwakeable(id: string, reason: string): void;
  /**
   * Waits for another invocation's result.
   * @deprecated as in Restate's SDK 1.17: use `ctx.invocation(id).attach()`.
   */
  attach<T>(invocationId: string, serde?: Serde<T>): RestatePromise<T>;
  /**
   * Asks another invocation to cancel: it sees a CancelledError at its next await.
   * @deprecated as in Restate's SDK 1.17: use `ctx.invocation(id).cancel()`.
   */
  cancel(invocationId: string): void;
  /**
   * Waits for named signal `name` sent to this invocation (by another handler, with
   * `ctx.invocation(thisId).signal(name).resolve(value)`). A signal sent before the handler
   * waits is kept for it; a rejected signal rejects with a TerminalError (its code, message and
   * metadata). Every signal sent is delivered, in arrival order: the k-th `ctx.signal(name)` of
   * an invocation gets the k-th signal of that name, on the first attempt and on every replay.
   * The cancel signal rejects it with a CancelledError, as any await.
   *
   * @example
   * const approved = await ctx.signal<boolean>("approved");
   */
  signal<T>(name: string, serde?: Serde<T>): RestatePromise<T>;
  /**
   * Another invocation, by id: send it named signals, cancel it, attach to it.
   *
   * @example
   * const target = ctx.invocation(targetInvocationId);
   * target.signal<boolean>("approved").resolve(true);
   * const result = await target.attach<string>();
   */
  invocation(invocationId: string): InvocationReference;
}

/** Another invocation, for {@link Context.invocation}: named signals, cancel, attach. As in Restate. */
export interface InvocationReference {
  /** Named signal `name` of the target invocation, to resolve or reject. */
  signal<T>(name: string, serde?: Serde<T>): SignalReference<T>;
  /** Asks the target to cancel: it sees a CancelledError at its next await (as `ctx.cancel(id)`). */
  cancel(): void;
  /** Waits for the target's result (as `ctx.attach(id)`); fails as the target failed. */
  attach<T>(serde?: Serde<T>): RestatePromise<T>;
}

/**
 * A named signal of another invocation. Sending is journaled: it happens once, with the
 * handler's next journaled step, also across retries. A signal to an invocation that has
 * completed (or does not exist) is dropped.
 */
export interface SignalReference<T> {
  /** Sends the signal with `payload` (serialized by the reference's serde, JSON by default). */
  resolve(payload?: T): void;
  /** Sends the signal as a failure: the waiter's `ctx.signal` rejects with a TerminalError (code 500 for a string). */
  reject(reason: string | TerminalError): void;
}

/** A state type: names to value types. */
export type TypedState = Record<string, any>;
/** The default state type: any name, each value typed at the call (`ctx.get<number>("n")`). */
export type UntypedState = { _: never };

type StateName<TState, TKey> = TState extends UntypedState ? string : TKey;
type StateValue<TState, TKey extends keyof TState, TValue> = TState extends UntypedState
  ? TValue
  : TState[TKey];

/** Reading and writing one key's state; typed by `TState` when it is given (as in Restate). */
export interface KeyValueStore<TState extends TypedState = UntypedState> {
  /** The value of a state entry, or null when there is none. */
  get<TValue, TKey extends keyof TState = string>(
    name: StateName<TState, TKey>,
    serde?: Serde<StateValue<TState, TKey, TValue>>,
  ): Promise<StateValue<TState, TKey, TValue> | null>;
  /** The names of the key's state entries. */
  stateKeys(): Promise<string[]>;
  /** Sets a state entry; durable with the handler's next journaled step. */
  set<TValue, TKey extends keyof TState = string>(
    name: StateName<TState, TKey>,
    value: StateValue<TState, TKey, TValue>,
    serde?: Serde<StateValue<TState, TKey, TValue>>,
  ): void;
  /** Removes a state entry. */
  clear<TKey extends keyof TState>(name: StateName<TState, TKey>): void;
  /** Removes every state entry of the key. */
  clearAll(): void;
}

/** The context of a shared object handler: reads the key's state. */
export interface ObjectSharedContext<TState extends TypedState = UntypedState> extends Context {
  readonly key: string;
  /** The value of a state entry, or null when there is none. */
  get<TValue, TKey extends keyof TState = string>(
    name: StateName<TState, TKey>,
    serde?: Serde<StateValue<TState, TKey, TValue>>,
  ): Promise<StateValue<TState, TKey, TValue> | null>;
  /** The names of the key's state entries. */
  stateKeys(): Promise<string[]>;
}

/** The context of an exclusive object handler: reads and writes the key's state. */
export interface ObjectContext<TState extends TypedState = UntypedState>
  extends ObjectSharedContext<TState>, KeyValueStore<TState> {}

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
export interface WorkflowSharedContext<
  TState extends TypedState = UntypedState,
> extends ObjectSharedContext<TState> {
  promise<T>(name: string, serde?: Serde<T>): DurablePromise<T>;
}

/** The context of a workflow's `run` handler. */
export interface WorkflowContext<TState extends TypedState = UntypedState>
  extends WorkflowSharedContext<TState>, ObjectContext<TState> {}
