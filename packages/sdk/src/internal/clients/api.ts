/**
 * The types of the typed ingress client (`@onelog/sdk/clients`), with the names and shapes of
 * `@restatedev/restate-sdk-clients` 1.x, so that `import * as clients from …` is the only line a
 * program changes. Handler types are read from the definitions' phantom handler types, the way
 * Restate's clients read them; the implementation is in ingress.ts.
 */
import type {
  HandlerDescriptor,
  InferInput,
  InferOutput,
  ObjectDescriptor,
  ServiceDescriptor,
  WorkflowDescriptor,
} from "@restatedev/restate-sdk-core";
import type {
  Service,
  ServiceDefinitionFrom,
  VirtualObject,
  VirtualObjectDefinitionFrom,
  Workflow,
  WorkflowDefinitionFrom,
} from "../definitions.js";
import { durationMs, type Duration } from "../duration.js";
import type { Serde } from "../serde.js";
import type { RetryPolicy } from "./retry.js";

/**
 * Turns payload bytes into other bytes on the way out and back on the way in (encryption,
 * compression). The handlers' side must decode them: onelog's SDK has no codecs, so this is for
 * Restate deployments that have one.
 */
export type JournalValueCodec = {
  encode(buf: Uint8Array): Uint8Array;
  decode(buf: Uint8Array): Promise<Uint8Array>;
};

/** What {@link connect} takes. */
export type ConnectionOpts = {
  /** The ingress, e.g. `http://localhost:8080`. */
  url: string;
  /** Headers sent with every request (authentication, for instance). */
  headers?: Record<string, string>;
  /**
   * Retry failures that may be transient (off by default): `true` for the default policy, or a
   * policy. Calls and sends are retried only with an idempotency key.
   */
  retry?: RetryPolicy | boolean;
  /** The serde of payloads when neither the call nor the handler names one. Default JSON. */
  serde?: Serde<any>;
  /** Encodes payloads (see {@link JournalValueCodec}). */
  journalValueCodec?: JournalValueCodec;
  /** The `fetch` to use. Default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
};

/** Options of one call (`rpc.opts`). */
export interface IngressCallOptions<I = unknown, O = unknown> {
  /** Makes the call idempotent: a repeat gets the first one's invocation and result. */
  idempotencyKey?: string;
  /** A concurrency limit key within a scope (Restate's flow control; onelog ignores it). */
  limitKey?: string;
  /** Headers of this request (they reach the handler as `ctx.request().headers`). */
  headers?: Record<string, string>;
  input?: Serde<I>;
  output?: Serde<O>;
  /** Abort the request after this many ms (per attempt). Not together with `signal`. */
  timeout?: number;
  /** Aborts the request. Not together with `timeout`. */
  signal?: AbortSignal;
}

/** Options of one send (`rpc.sendOpts`). */
export interface IngressSendOptions<I> extends IngressCallOptions<I, void> {
  /** Run the handler no earlier than this from now (ms or `{ seconds: 5 }`). */
  delay?: Duration;
}

const OPTS = Symbol.for("onelog.clients.Opts");
const SEND_OPTS = Symbol.for("onelog.clients.SendOpts");

/**
 * The options of one call, given as the last argument of a client method.
 *
 * @example
 * await ingress.serviceClient(greeter).greet("Ada", Opts.from({ idempotencyKey: "g-1" }));
 */
export class Opts<I, O> {
  readonly [OPTS] = true;
  /** Options of one call. */
  static from<I = unknown, O = unknown>(opts: IngressCallOptions<I, O>): Opts<I, O> {
    return new Opts(opts);
  }
  constructor(readonly opts: IngressCallOptions<I, O>) {}
}

/**
 * The options of one send, given as the last argument of a send client method.
 *
 * @example
 * await ingress.serviceSendClient(greeter).greet("Ada", SendOpts.from({ delay: { minutes: 5 } }));
 */
export class SendOpts<I = unknown> {
  readonly [SEND_OPTS] = true;
  /** Options of one send. */
  static from<I = unknown>(opts: IngressSendOptions<I>): SendOpts<I> {
    return new SendOpts(opts);
  }
  constructor(readonly opts: IngressSendOptions<I>) {}
  /** The delay in ms, if one was given. Throws a TypeError for a negative one. */
  delay(): number | undefined {
    return this.opts.delay === undefined ? undefined : durationMs(this.opts.delay);
  }
}

/** Whether `x` is an {@link Opts} or a {@link SendOpts}, also from another copy of this module. */
export function isOpts(x: unknown): x is Opts<unknown, unknown> | SendOpts<unknown> {
  return typeof x === "object" && x !== null && (OPTS in x || SEND_OPTS in x);
}

/** Whether `x` is a {@link SendOpts}, also from another copy of this module. */
export function isSendOpts(x: unknown): x is SendOpts<unknown> {
  return typeof x === "object" && x !== null && SEND_OPTS in x;
}

/**
 * `rpc.opts(…)` and `rpc.sendOpts(…)`: the options of one call or send.
 *
 * @example
 * await ingress.objectClient(cart, "c1").add("apple", clients.rpc.opts({ idempotencyKey: "a-1" }));
 * await ingress.serviceSendClient(mailer).remind("ada", clients.rpc.sendOpts({ delay: { hours: 1 } }));
 */
// eslint-disable-next-line @typescript-eslint/no-namespace
export namespace rpc {
  /** Options of one call: idempotency key, headers, serdes, timeout or signal. */
  export const opts = <I, O>(opts: IngressCallOptions<I, O>): Opts<I, O> => Opts.from(opts);
  /** Options of one send: delay, idempotency key, headers, serde. */
  export const sendOpts = <I>(opts: IngressSendOptions<I>): SendOpts<I> => SendOpts.from(opts);
}

/** The type of a handler's first argument after the context, from its remaining parameters. */
export type InferArgType<P> = P extends [infer A, ...any[]] ? A : unknown;

/**
 * A request-response client: one method per handler, taking the handler's input (none for a
 * handler without one) and, last, optional {@link Opts}; it resolves with the handler's output.
 */
export type IngressClient<M> = {
  [K in keyof M as M[K] extends never ? never : K]: M[K] extends (
    arg: any,
    ...args: infer P
  ) => PromiseLike<infer O>
    ? (...args: [...P, ...[opts?: Opts<InferArgType<P>, O>]]) => Promise<O>
    : never;
};

/** A send client: like {@link IngressClient}, but each method resolves once the invocation is accepted. */
export type IngressSendClient<M> = {
  [K in keyof M as M[K] extends never ? never : K]: M[K] extends (
    arg: any,
    ...args: infer P
  ) => PromiseLike<infer O>
    ? (...args: [...P, ...[opts?: SendOpts<InferArgType<P>>]]) => Promise<Send<O>>
    : never;
};

/** A request-response client typed by a handler descriptor map (Restate's `iface` contracts). */
export type IngressClientFromDescriptors<H extends Record<string, HandlerDescriptor>> = {
  readonly [K in keyof H]: [InferInput<H[K]>] extends [void]
    ? (opts?: Opts<InferInput<H[K]>, InferOutput<H[K]>>) => Promise<InferOutput<H[K]>>
    : (
        input: InferInput<H[K]>,
        opts?: Opts<InferInput<H[K]>, InferOutput<H[K]>>,
      ) => Promise<InferOutput<H[K]>>;
};

/** A send client typed by a handler descriptor map. */
export type IngressSendClientFromDescriptors<H extends Record<string, HandlerDescriptor>> = {
  readonly [K in keyof H]: [InferInput<H[K]>] extends [void]
    ? (opts?: SendOpts<InferInput<H[K]>>) => Promise<Send<InferOutput<H[K]>>>
    : (input: InferInput<H[K]>, opts?: SendOpts<InferInput<H[K]>>) => Promise<Send<InferOutput<H[K]>>>;
};

/**
 * What a send answers once the invocation is accepted. `T` is the handler's output, for
 * {@link Ingress.result}. `attachable` is true when the send had an idempotency key: only then
 * can `result` fetch the outcome.
 */
// `T` is phantom, as in Restate's client: the type of what `result` fetches.
// eslint-disable-next-line @typescript-eslint/no-unused-vars
export type Send<T = unknown> = {
  /** The invocation's id (`inv_…`), for `result`, the admin API and the CLI. */
  invocationId: string;
  /** `PreviouslyAccepted` when an idempotency key matched an earlier send. */
  status: "Accepted" | "PreviouslyAccepted";
  attachable: boolean;
};

/** What `workflowSubmit` answers: the run's invocation, which can always be attached to. */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- phantom, as Send's
export type WorkflowSubmission<T> = {
  readonly invocationId: string;
  /** `PreviouslyAccepted` when this workflow id was already submitted. */
  readonly status: "Accepted" | "PreviouslyAccepted";
  readonly attachable: true;
};

/** What `workflowOutput` answers: `result` is there only when `ready` (reading it before throws). */
export interface Output<O> {
  ready: boolean;
  result: O;
}

/**
 * A client of one workflow id: its shared handlers as methods, and `workflowSubmit` (start `run`,
 * once per id), `workflowAttach` (wait for `run`'s result) and `workflowOutput` (the result if
 * it is there, without waiting) in place of `run`.
 */
export type IngressWorkflowClient<M> = Omit<
  {
    [K in keyof M as M[K] extends never ? never : K]: M[K] extends (
      arg: any,
      ...args: infer P
    ) => PromiseLike<infer O>
      ? (...args: [...P, ...[opts?: Opts<InferArgType<P>, O>]]) => Promise<O>
      : never;
  } & {
    /** Starts `run` for this workflow id, once; resolves when accepted, not when done. */
    workflowSubmit: M extends Record<string, unknown>
      ? M["run"] extends (arg: any, ...args: infer I) => Promise<infer O>
        ? (...args: [...I, ...[opts?: SendOpts<InferArgType<I>>]]) => Promise<WorkflowSubmission<O>>
        : never
      : never;
    /** Waits for `run` to finish; resolves with its result or rejects with its error. */
    workflowAttach: M extends Record<string, unknown>
      ? M["run"] extends (...args: any) => Promise<infer O>
        ? (opts?: Opts<void, O>) => Promise<O>
        : never
      : never;
    /** `run`'s result if it has finished (`ready`), without waiting. */
    workflowOutput: M extends Record<string, unknown>
      ? M["run"] extends (...args: any) => Promise<infer O>
        ? (opts?: Opts<void, O>) => Promise<Output<O>>
        : never
      : never;
  },
  "run"
>;

/** A connection to an ingress: clients for services, objects and workflows, and awakeables. */
export interface Ingress {
  /** A request-response client of a service (a definition, or a `{ name }` stub typed by one). */
  serviceClient<D>(opts: ServiceDefinitionFrom<D>): IngressClient<Service<D>>;
  /** A client of one workflow id. */
  workflowClient<D>(opts: WorkflowDefinitionFrom<D>, key: string): IngressWorkflowClient<Workflow<D>>;
  /** A request-response client of one virtual object key. */
  objectClient<D>(opts: VirtualObjectDefinitionFrom<D>, key: string): IngressClient<VirtualObject<D>>;
  /** A send client of a service. */
  serviceSendClient<D>(opts: ServiceDefinitionFrom<D>): IngressSendClient<Service<D>>;
  /** A send client of one virtual object key. */
  objectSendClient<D>(opts: VirtualObjectDefinitionFrom<D>, key: string): IngressSendClient<VirtualObject<D>>;
  /** A request-response client from a descriptor contract (Restate's `iface`), with its serdes. */
  client<P extends string, H extends Record<string, HandlerDescriptor>>(
    serviceInterface: ServiceDescriptor<P, H>,
  ): IngressClientFromDescriptors<H>;
  client<P extends string, H extends Record<string, HandlerDescriptor>>(
    objectOrWorkflowInterface: ObjectDescriptor<P, H> | WorkflowDescriptor<P, H>,
    key: string,
  ): IngressClientFromDescriptors<H>;
  /** The send twin of {@link Ingress.client}. */
  sendClient<P extends string, H extends Record<string, HandlerDescriptor>>(
    serviceInterface: ServiceDescriptor<P, H>,
  ): IngressSendClientFromDescriptors<H>;
  sendClient<P extends string, H extends Record<string, HandlerDescriptor>>(
    objectOrWorkflowInterface: ObjectDescriptor<P, H> | WorkflowDescriptor<P, H>,
    key: string,
  ): IngressSendClientFromDescriptors<H>;
  /** Completes an awakeable with a value (serialized with `payloadSerde`, default the connection's). */
  resolveAwakeable<T>(id: string, payload?: T, payloadSerde?: Serde<T>): Promise<void>;
  /** Fails an awakeable: its awaiter gets a TerminalError with `reason`. */
  rejectAwakeable(id: string, reason: string): Promise<void>;
  /**
   * The result of a sent invocation (waits for it): of a send with an idempotency key, or of a
   * workflow submission. Throws for a send without one (its result is not kept).
   */
  result<T>(send: Send<T> | WorkflowSubmission<T>, resultSerde?: Serde<T>): Promise<T>;
  /** A request-response call by names, without a definition. */
  call<I = Uint8Array, O = Uint8Array>(opts: {
    service: string;
    handler: string;
    parameter: I;
    key?: string;
    /** See {@link Ingress.scope}. */
    scope?: string;
    opts?: Opts<I, O>;
  }): Promise<O>;
  /** A send by names, without a definition. */
  send<I = Uint8Array>(opts: {
    service: string;
    handler: string;
    parameter: I;
    key?: string;
    /** See {@link Ingress.scope}. */
    scope?: string;
    opts?: SendOpts<I>;
  }): Promise<Send>;
  /**
   * Clients whose requests go to a scope (`/restate/scope/{scope}/…`), Restate's experimental
   * flow control (restate-server ≥ 1.7 with it enabled). onelog's ingress does not serve scopes.
   */
  scope(scopeKey: string): ScopedIngress;
}

/** The clients of {@link Ingress.scope}. */
export type ScopedIngress = Pick<
  Ingress,
  | "serviceClient"
  | "serviceSendClient"
  | "objectClient"
  | "objectSendClient"
  | "workflowClient"
  | "client"
  | "sendClient"
>;
