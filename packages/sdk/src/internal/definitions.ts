/**
 * Service definitions: what `service()` returns and the engine registers. Names and shapes follow
 * the Restate TypeScript SDK 1.x so that programs move over by changing their import.
 */
import type {
  Context,
  ObjectContext,
  ObjectSharedContext,
  WorkflowContext,
  WorkflowSharedContext,
} from "./context.js";
import { durationMs, type Duration } from "./duration.js";
import { serde as serdes, type Serde } from "./serde.js";

/** Retry policy options of a service or handler (Restate SDK names). */
export interface RetryPolicyOptions {
  /** First wait after a failed attempt. Default 50 ms. */
  readonly initialInterval?: Duration;
  /** Each wait is the previous one times this. Default 2. */
  readonly exponentiationFactor?: number;
  /** The wait never grows beyond this. Default 60 s. */
  readonly maxInterval?: Duration;
  /** Attempts in all, the first included. Default 100; `null` (or Infinity) retries forever. */
  readonly maxAttempts?: number | null;
  /** What happens when the attempts are used up: pause (default; resume it later) or kill. */
  readonly onMaxAttempts?: "pause" | "kill";
}

/** Options of a service, or of one handler (a handler's options win over its service's). */
export interface ServiceOptions {
  readonly retryPolicy?: RetryPolicyOptions;
  /** How long a completed invocation with an idempotency key keeps its output. Default 24 h. */
  readonly idempotencyRetention?: Duration;
  /** How long a completed invocation keeps its journal. Default 0 (dropped at completion). */
  readonly journalRetention?: Duration;
  /** Handlers of a private service cannot be called through the ingress. */
  readonly ingressPrivate?: boolean;
  /** An attempt that has made no progress for this long is aborted and retried. Default 1 min. */
  readonly inactivityTimeout?: Duration;
  /** Accepted for compatibility; onelog aborts attempts after the inactivity timeout. */
  readonly abortTimeout?: Duration;
}

/** Options of one handler: its serdes and the service options it overrides. */
export interface HandlerOptions<I = unknown, O = unknown> extends ServiceOptions {
  readonly input?: Serde<I>;
  readonly output?: Serde<O>;
  readonly accept?: string;
  readonly contentType?: string;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** A service handler: takes the context and the deserialized input. */
export type ServiceHandler<I = any, O = any> = (ctx: Context, input: I) => Promise<O>;
/** An exclusive object handler: one at a time per key, may write state. */
export type ObjectHandler<I = any, O = any> = (ctx: ObjectContext, input: I) => Promise<O>;
/** A shared object handler: runs concurrently, reads state only. */
export type ObjectSharedHandler<I = any, O = any> = (ctx: ObjectSharedContext, input: I) => Promise<O>;
/** The `run` handler of a workflow: once per workflow id. */
export type WorkflowHandler<I = any, O = any> = (ctx: WorkflowContext, input: I) => Promise<O>;
/** A shared workflow handler: reads state, resolves durable promises. */
export type WorkflowSharedHandler<I = any, O = any> = (ctx: WorkflowSharedContext, input: I) => Promise<O>;

const HANDLER_OPTIONS = Symbol.for("onelog.handlerOptions");
const HANDLER_KIND = Symbol.for("onelog.handlerKind");

/** How a handler runs: plain service, exclusive (holds its key's lock), shared, or a workflow's run. */
export type HandlerKind = "service" | "exclusive" | "shared" | "workflow";

type WithOptions = { [HANDLER_OPTIONS]?: HandlerOptions<any, any>; [HANDLER_KIND]?: HandlerKind };

function wrap<F extends (...args: any[]) => Promise<unknown>>(
  kind: HandlerKind | undefined,
  optionsOrFn: HandlerOptions<any, any> | F,
  maybeFn: F | undefined,
): F {
  const fn = typeof optionsOrFn === "function" ? optionsOrFn : maybeFn;
  if (typeof fn !== "function") throw new TypeError("a handler wrapper needs a function");
  const options = typeof optionsOrFn === "function" ? {} : optionsOrFn;
  const wrapped = ((...args: unknown[]) => fn(...args)) as unknown as F & WithOptions;
  wrapped[HANDLER_OPTIONS] = options;
  if (kind !== undefined) wrapped[HANDLER_KIND] = kind;
  return wrapped;
}

/**
 * Handler wrappers that attach options, as in the Restate SDK.
 *
 * @example
 * const greeter = service({ name: "Greeter", handlers: {
 *   greet: handlers.handler({ retryPolicy: { maxAttempts: 3 } }, async (ctx: Context, name: string) => `hi ${name}`),
 * }});
 */
export const handlers = {
  /** A service handler with options. */
  handler<I, O>(options: HandlerOptions<I, O>, fn: ServiceHandler<I, O>): ServiceHandler<I, O> {
    return wrap(undefined, options, fn);
  },
  object: {
    /** An exclusive object handler (the default for object handlers), with options. */
    exclusive<I, O>(
      optionsOrFn: HandlerOptions<I, O> | ObjectHandler<I, O>,
      fn?: ObjectHandler<I, O>,
    ): ObjectHandler<I, O> {
      return wrap("exclusive", optionsOrFn, fn);
    },
    /** A shared object handler: concurrent with other handlers of the key; reads state only. */
    shared<I, O>(
      optionsOrFn: HandlerOptions<I, O> | ObjectSharedHandler<I, O>,
      fn?: ObjectSharedHandler<I, O>,
    ): ObjectSharedHandler<I, O> {
      return wrap("shared", optionsOrFn, fn);
    },
  },
  workflow: {
    /** The workflow's `run` handler, with options. */
    workflow<I, O>(
      optionsOrFn: HandlerOptions<I, O> | WorkflowHandler<I, O>,
      fn?: WorkflowHandler<I, O>,
    ): WorkflowHandler<I, O> {
      return wrap("workflow", optionsOrFn, fn);
    },
    /** A shared workflow handler: reads state and resolves durable promises. */
    shared<I, O>(
      optionsOrFn: HandlerOptions<I, O> | WorkflowSharedHandler<I, O>,
      fn?: WorkflowSharedHandler<I, O>,
    ): WorkflowSharedHandler<I, O> {
      return wrap("shared", optionsOrFn, fn);
    },
  },
} as const;

/** What `service()` returns: a name, its handlers and options. Pass it to `start({ services })`. */
export interface ServiceDefinition<P extends string = string, M = Record<string, ServiceHandler>> {
  readonly name: P;
  readonly kind: "service";
  readonly handlers: M;
  readonly options: ServiceOptions;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Defines a service: a set of stateless handlers, each invocation independent of the others.
 * Throws a TypeError at definition time for a bad name or a handler that is not a function.
 *
 * @example
 * const greeter = service({ name: "Greeter", handlers: {
 *   greet: async (ctx: Context, name: string) => ctx.run("compose", () => `hello ${name}`),
 * }});
 */
export function service<P extends string, M extends Record<string, ServiceHandler>>(definition: {
  readonly name: P;
  readonly handlers: M;
  readonly options?: ServiceOptions;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}): ServiceDefinition<P, M> {
  checkName("service", definition.name);
  for (const [name, fn] of Object.entries(definition.handlers)) {
    checkName(`handler of ${definition.name}`, name);
    if (typeof fn !== "function") {
      throw new TypeError(`service ${definition.name}: handler '${name}' is not a function`);
    }
  }
  return {
    name: definition.name,
    kind: "service",
    handlers: definition.handlers,
    options: definition.options ?? {},
    ...(definition.description === undefined ? {} : { description: definition.description }),
    ...(definition.metadata === undefined ? {} : { metadata: definition.metadata }),
  };
}

/** What `object()` returns. */
export interface VirtualObjectDefinition<P extends string = string, M = Record<string, ObjectHandler>> {
  readonly name: P;
  readonly kind: "object";
  readonly handlers: M;
  readonly options: ServiceOptions;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** What `workflow()` returns. */
export interface WorkflowDefinition<P extends string = string, M = Record<string, WorkflowHandler>> {
  readonly name: P;
  readonly kind: "workflow";
  readonly handlers: M;
  readonly options: ServiceOptions & {
    /** How long a finished workflow keeps its state, promises and output. Default 24 h. */
    readonly workflowRetention?: Duration;
  };
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Any definition `start({ services })` takes. */
export type AnyDefinition =
  ServiceDefinition<string, any> | VirtualObjectDefinition<string, any> | WorkflowDefinition<string, any>;

/**
 * Defines a virtual object: handlers keyed by a string, with durable state per key. Exclusive
 * handlers (the default) of one key run one at a time, in arrival order; shared handlers
 * (`handlers.object.shared`) run concurrently and only read state.
 *
 * @example
 * const counter = object({ name: "Counter", handlers: {
 *   add: async (ctx: ObjectContext, n: number) => {
 *     const v = ((await ctx.get<number>("count")) ?? 0) + n;
 *     ctx.set("count", v);
 *     return v;
 *   },
 * }});
 */
export function object<
  P extends string,
  M extends Record<string, ObjectHandler | ObjectSharedHandler>,
>(definition: {
  readonly name: P;
  readonly handlers: M;
  readonly options?: ServiceOptions;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}): VirtualObjectDefinition<P, M> {
  const d = service(definition as any) as unknown as Omit<VirtualObjectDefinition<P, M>, "kind">;
  return { ...d, kind: "object" };
}

/**
 * Defines a workflow: `run` executes once per workflow id; the other handlers are shared and
 * can read state and resolve durable promises (`ctx.promise(name)`).
 *
 * @example
 * const signup = workflow({ name: "Signup", handlers: {
 *   run: async (ctx: WorkflowContext, email: string) => {
 *     await ctx.run("send mail", () => sendMail(email));
 *     return ctx.promise<string>("clicked");
 *   },
 *   click: async (ctx: WorkflowSharedContext, secret: string) => ctx.promise<string>("clicked").resolve(secret),
 * }});
 */
export function workflow<
  P extends string,
  M extends Record<string, WorkflowHandler | WorkflowSharedHandler>,
>(definition: {
  readonly name: P;
  readonly handlers: M;
  readonly options?: WorkflowDefinition["options"];
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}): WorkflowDefinition<P, M> {
  if (typeof (definition.handlers as Record<string, unknown>).run !== "function") {
    throw new TypeError(`workflow ${definition.name}: it needs a 'run' handler`);
  }
  const d = service(definition as any) as unknown as Omit<WorkflowDefinition<P, M>, "kind">;
  return { ...d, kind: "workflow" };
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function checkName(what: string, name: string): void {
  if (typeof name !== "string" || !NAME.test(name) || name.startsWith("restate")) {
    throw new TypeError(
      `invalid ${what} name ${JSON.stringify(name)}: use letters, digits, '_', '.', '-', starting with a letter or '_' (and not 'restate')`,
    );
  }
}

/** The engine's view of one handler: its function and its resolved options. */
export interface ResolvedHandler {
  readonly service: string;
  readonly name: string;
  readonly serviceKind: "service" | "object" | "workflow";
  readonly kind: HandlerKind;
  readonly fn: (ctx: any, input: any) => Promise<unknown>;
  readonly input: Serde<unknown>;
  readonly output: Serde<unknown>;
  readonly ingressPrivate: boolean;
  readonly retryPolicy: {
    readonly initialIntervalMs: number;
    readonly factor: number;
    readonly maxIntervalMs: number;
    readonly maxAttempts: number | null;
    readonly onMaxAttempts: "pause" | "kill";
  };
  readonly idempotencyRetentionMs: number;
  readonly journalRetentionMs: number;
  readonly inactivityTimeoutMs: number;
}

/** Defaults of the retry policy and retentions (docs/architecture.md, "Retries"). */
export const DEFAULTS = {
  initialIntervalMs: 50,
  factor: 2,
  maxIntervalMs: 60_000,
  maxAttempts: 100,
  onMaxAttempts: "pause",
  idempotencyRetentionMs: 24 * 3_600_000,
  workflowRetentionMs: 24 * 3_600_000,
  journalRetentionMs: 0,
  inactivityTimeoutMs: 60_000,
} as const;

/** Resolves every handler of a definition with its service's options and the defaults. */
export function resolveHandlers(def: AnyDefinition): ResolvedHandler[] {
  const entries = Object.entries(def.handlers as Record<string, (ctx: any, input: any) => Promise<unknown>>);
  return entries.map(([name, fn]) => {
    const own = (fn as WithOptions)[HANDLER_OPTIONS] ?? {};
    const declared = (fn as WithOptions)[HANDLER_KIND];
    const kind: HandlerKind =
      def.kind === "service"
        ? "service"
        : def.kind === "object"
          ? declared === "shared"
            ? "shared"
            : "exclusive"
          : name === "run"
            ? "workflow"
            : "shared";
    const pick = <K extends keyof ServiceOptions>(k: K): ServiceOptions[K] => own[k] ?? def.options[k];
    const rp = { ...def.options.retryPolicy, ...own.retryPolicy };
    const maxAttempts = rp.maxAttempts === undefined ? DEFAULTS.maxAttempts : rp.maxAttempts;
    const ms = (d: Duration | undefined, dflt: number) => (d === undefined ? dflt : durationMs(d));
    return {
      service: def.name,
      name,
      serviceKind: def.kind,
      kind,
      fn,
      input: own.input ?? serdes.json,
      output: own.output ?? serdes.json,
      ingressPrivate: pick("ingressPrivate") ?? false,
      retryPolicy: {
        initialIntervalMs: ms(rp.initialInterval, DEFAULTS.initialIntervalMs),
        factor: rp.exponentiationFactor ?? DEFAULTS.factor,
        maxIntervalMs: ms(rp.maxInterval, DEFAULTS.maxIntervalMs),
        maxAttempts: maxAttempts === null || maxAttempts === Infinity ? null : maxAttempts,
        onMaxAttempts: rp.onMaxAttempts ?? DEFAULTS.onMaxAttempts,
      },
      idempotencyRetentionMs:
        def.kind === "workflow" && kind === "workflow"
          ? ms(def.options.workflowRetention, DEFAULTS.workflowRetentionMs)
          : ms(pick("idempotencyRetention"), DEFAULTS.idempotencyRetentionMs),
      journalRetentionMs: ms(pick("journalRetention"), DEFAULTS.journalRetentionMs),
      inactivityTimeoutMs: ms(pick("inactivityTimeout"), DEFAULTS.inactivityTimeoutMs),
    };
  });
}
