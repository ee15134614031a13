/** Per-call options (`rpc.opts`, `rpc.sendOpts`), passed as the last argument of a client method. */
import type { Duration } from "./duration.js";
import type { Serde } from "./serde.js";

const OPTS = Symbol.for("onelog.rpc.opts");
const SEND_OPTS = Symbol.for("onelog.rpc.sendOpts");

export interface CallOptions<I, O> {
  readonly idempotencyKey?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly input?: Serde<I>;
  readonly output?: Serde<O>;
}

export interface SendOptions<I> {
  readonly idempotencyKey?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly input?: Serde<I>;
  /** Start the callee no earlier than this long from now. */
  readonly delay?: Duration;
}

export interface Opts<I, O> {
  readonly [OPTS]: CallOptions<I, O>;
}

export interface SendOpts<I> {
  readonly [SEND_OPTS]: SendOptions<I>;
}

/**
 * Options for one call or send.
 *
 * @example
 * await ctx.serviceClient(greeter).greet("Ada", rpc.opts({ idempotencyKey: "a" }));
 * ctx.serviceSendClient(greeter).greet("Ada", rpc.sendOpts({ delay: { seconds: 5 } }));
 */
// eslint-disable-next-line @typescript-eslint/no-namespace
export namespace rpc {
  /** Options of one call (idempotency key, headers, serdes): last argument of a client method. */
  export const opts = <I, O>(options: CallOptions<I, O>): Opts<I, O> => ({ [OPTS]: options });
  /** Options of one send (delay, idempotency key, headers, serde): last argument of a send client method. */
  export const sendOpts = <I>(options: SendOptions<I>): SendOpts<I> => ({ [SEND_OPTS]: options });
}

/** The call options in a trailing argument, if it is an `rpc.opts(…)`. */
export function callOptionsOf(x: unknown): CallOptions<unknown, unknown> | undefined {
  return typeof x === "object" && x !== null && OPTS in x ? (x as Opts<unknown, unknown>)[OPTS] : undefined;
}

/** The send options in a trailing argument, if it is an `rpc.sendOpts(…)`. */
export function sendOptionsOf(x: unknown): SendOptions<unknown> | undefined {
  return typeof x === "object" && x !== null && SEND_OPTS in x
    ? (x as SendOpts<unknown>)[SEND_OPTS]
    : undefined;
}
